/**
 * The `static` (model2vec layout) and `mixed` encoders end to end: StaticModel against a
 * TypeScript reference (the reference tokenizer, unknowns dropped, weighted mean, L2), training
 * and routing through the Router, the .router file carrying or naming its model, and each hostile
 * model directory a coded error naming the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon/native.js';
import { parseEncoderSpec } from '../src/encoders/spec.js';
import { StaticModel } from '../src/encoders/static.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';
import { safetensorsBytes, writeStaticModelDir } from './encoder-fixtures.js';

const built = typeof (binding() as { NativeStaticEncoder?: unknown }).NativeStaticEncoder === 'function';
if (!built) console.warn('static encoder: the loaded addon predates NativeStaticEncoder; rebuild it (npm run build) to run these tests');

const tmp = mkdtempSync(join(tmpdir(), 'routecore-static-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Outcome records where the better model depends on the topic (maths vs. cooking words). */
function topicRecords(n: number): Array<{ id: string; prompt: string; scores: Record<string, number> }> {
  const maths = ['integral', 'equation', 'derivative', 'matrix', 'prime', 'algebra', 'geometry', 'theorem'];
  const cooking = ['recipe', 'bake', 'flour', 'sauce', 'oven', 'garlic', 'butter', 'simmer'];
  const out = [];
  for (let i = 0; i < n; i++) {
    const m = i % 2 === 0;
    const words = m ? maths : cooking;
    const prompt = `Please help with the ${words[i % 8]} and the ${words[(i * 3 + 1) % 8]} question number ${i}`;
    out.push({ id: `r${i}`, prompt, scores: m ? { strong: 1, weak: 0 } : { strong: 0, weak: 1 } });
  }
  return out;
}

describe.runIf(built)('static encoder', () => {
  const modelDir = join(tmp, 'model');
  const fx = writeStaticModelDir(modelDir, { dim: 16, weights: true });

  it('embeds as model2vec does: reference tokens, unknowns dropped, weighted mean, L2', () => {
    const model = StaticModel.loadSync(modelDir, { precision: 'f32' });
    expect(model.dim).toBe(16);
    expect(model.rows).toBe(30522);
    const ref = new Tokenizer(fx.tokenizer as never, {});
    const prompts = ['Hello, world! How are you?', 'Café déjà vu — 中文 tokens', 'zzzqqq', '', 'The quick brown fox '.repeat(40)];
    const got = model.embed(prompts);
    prompts.forEach((p, i) => {
      const ids = ref.encode(p, { add_special_tokens: false }).ids.filter((id) => id !== 100).slice(0, 512); // 100: [UNK]
      const want = new Float64Array(16);
      for (const id of ids) for (let j = 0; j < 16; j++) want[j] += fx.weights![id]! * fx.embeddings[id * 16 + j]!;
      const norm = Math.hypot(...want);
      for (let j = 0; j < 16; j++) expect(got[i * 16 + j]).toBeCloseTo(norm > 0 ? want[j]! / norm : 0, 5);
    });
    // '' has no tokens: an all-zero row.
    expect(Array.from(got.subarray(3 * 16, 4 * 16)).every((v) => v === 0)).toBe(true);
    // The default holds the table in binary16: the same rows to ~1e-3.
    const half = StaticModel.loadSync(modelDir);
    expect(half.precision).toBe('f16');
    const rounded = half.embed(prompts);
    for (let k = 0; k < got.length; k++) expect(Math.abs(rounded[k]! - got[k]!)).toBeLessThan(2e-3);
  });

  it('parses --encoder specs and names the bad ones', () => {
    expect(parseEncoderSpec('hashing')).toEqual({ kind: 'hashing' });
    expect(parseEncoderSpec('static:/m')).toEqual({ kind: 'static', model: '/m' });
    expect(parseEncoderSpec('mixed:rel/dir')).toEqual({ kind: 'mixed', model: 'rel/dir' });
    expect(() => parseEncoderSpec('onnx', '--encoder')).toThrow(/--encoder "onnx" is not an encoder: expected hashing, static:DIR or mixed:DIR/);
  });

  for (const kind of ['static', 'mixed'] as const) {
    it(`trains, routes and round-trips a ${kind} router that carries its model`, async () => {
      const records = topicRecords(120);
      const { router } = await train(records, { encoder: { kind, model: modelDir }, predictor: 'linear', maxEpochs: 40, seed: 3 });
      expect(router.encoder).toBe(kind);
      expect(router.inputDim).toBe(kind === 'static' ? 16 : 65536 + 16);
      const file = join(tmp, `${kind}.router`);
      await router.save(file);
      const again = Router.loadSync(file);
      expect(again.encoder).toBe(kind);
      // The features carry the topic: the two kinds of prompt go to different models.
      expect(router.routeSync('Please help with the theorem and the algebra question').model).toBe('strong');
      expect(router.routeSync('Please help with the sauce and the oven question').model).toBe('weak');
      const prompts = ['solve this equation with a matrix', 'bake it with garlic butter', 'x'];
      for (const p of prompts) expect(again.routeSync(p).scores).toEqual(router.routeSync(p).scores);
      // The file loads without the model directory: it carries tokenizer and table.
      const moved = join(tmp, `moved-${kind}`);
      writeStaticModelDir(moved, { dim: 16, weights: true });
      rmSync(modelDir, { recursive: true });
      expect(Router.loadSync(file).routeSync(prompts[0]!).scores).toEqual(router.routeSync(prompts[0]!).scores);
      writeStaticModelDir(modelDir, { dim: 16, weights: true });
      router.dispose?.();
      again.dispose?.();
    });
  }

  it('names its model instead of carrying it with embed: false, and refuses a missing or different model', async () => {
    const dir = join(tmp, 'named');
    writeStaticModelDir(dir, { dim: 16, seed: 11 });
    const { router } = await train(topicRecords(60), { encoder: { kind: 'static', model: dir, embed: false }, predictor: 'linear', maxEpochs: 5 });
    const file = join(tmp, 'named.router');
    await router.save(file);
    const loaded = Router.loadSync(file);
    expect(loaded.routeSync('an equation').scores).toEqual(router.routeSync('an equation').scores);
    // A copy elsewhere, passed explicitly, is the same model.
    const copy = join(tmp, 'named-copy');
    writeStaticModelDir(copy, { dim: 16, seed: 11 });
    expect(Router.loadSync(file, { staticModel: copy }).encoder).toBe('static');
    // The same files held at another precision are not the encoder the router was trained with.
    expect(() => Router.loadSync(file, { staticModel: StaticModel.loadSync(copy, { precision: 'f32' }) })).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_MODEL_MISMATCH', message: expect.stringContaining('holds its table in f32') }),
    );
    // A different table: refused, naming the file.
    const other = join(tmp, 'named-other');
    writeStaticModelDir(other, { dim: 16, seed: 12 });
    expect(() => Router.loadSync(file, { staticModel: other })).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_MODEL_MISMATCH', message: expect.stringContaining(`${join(other, 'model.safetensors')} is not the file ${file} was trained with`) }),
    );
    // A missing model: refused, naming the file that is missing.
    rmSync(join(dir, 'model.safetensors'));
    expect(() => Router.loadSync(file)).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_MODEL_MISMATCH', message: expect.stringContaining(`${join(dir, 'model.safetensors')} is missing`) }),
    );
  });

  it('train --auto considers the encoders it is given and keeps the best by CV; an ensemble of static members loads and routes', async () => {
    const dir = join(tmp, 'auto-model');
    writeStaticModelDir(dir, { dim: 16, seed: 21 });
    const records = topicRecords(90);
    const auto = { objective: 'quality' as const, memberSets: [['lin', 'mlp32']], alphas: [1], betas: [1], folds: 3, workers: 0 };
    const result = await train(records, { auto, encoders: [{ kind: 'hashing' }, { kind: 'static', model: dir }] });
    expect(result.encoders!.map((e) => e.encoder)).toEqual(['hashing', `static:${dir}`]);
    expect(result.encoders!.filter((e) => e.kept)).toHaveLength(1);
    const kept = result.encoders!.find((e) => e.kept)!;
    const best = Math.max(...result.encoders!.map((e) => e.cv));
    expect(kept.cv).toBe(best);
    expect(result.encoders![0]!.kept || result.encoders![1]!.cv > result.encoders![0]!.cv).toBe(true); // ties to the earlier
    result.router.dispose();
    // The static grid alone: its ensemble members name the model and share the loaded router's.
    const { router } = await train(records, { auto, encoder: { kind: 'static', model: dir } });
    expect(router.encoder).toBe('static');
    const file = join(tmp, 'auto-static.router');
    await router.save(file);
    const again = Router.loadSync(file);
    const p = 'Please help with the matrix and the prime question';
    expect(again.routeSync(p).scores).toEqual(router.routeSync(p).scores);
    again.dispose();
    router.dispose();
    await expect(train(records, { encoders: [{ kind: 'hashing' }] })).rejects.toThrow(expect.objectContaining({ message: expect.stringContaining('options.encoders') }));
  });

  it('refuses hostile model directories with coded errors naming the file', () => {
    const bad = (name: string, write: (dir: string) => void): void => {
      const dir = join(tmp, name);
      writeStaticModelDir(dir, { dim: 8 });
      write(dir);
    };
    bad('no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')));
    expect(() => StaticModel.loadSync(join(tmp, 'no-tokenizer'))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining(`${join(tmp, 'no-tokenizer', 'tokenizer.json')} is missing`) }),
    );
    bad('bpe', (d) => writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } })));
    expect(() => StaticModel.loadSync(join(tmp, 'bpe'))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('model.type "BPE" is not supported') }),
    );
    bad('truncated', (d) => {
      const full = safetensorsBytes([{ name: 'embeddings', shape: [30522, 8], data: new Float32Array(30522 * 8) }]);
      writeFileSync(join(d, 'model.safetensors'), full.subarray(0, full.length - 100));
    });
    expect(() => StaticModel.loadSync(join(tmp, 'truncated'))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining(`${join(tmp, 'truncated', 'model.safetensors')}: truncated`) }),
    );
    bad('small-table', (d) => writeFileSync(join(d, 'model.safetensors'), safetensorsBytes([{ name: 'embeddings', shape: [100, 8], data: new Float32Array(800) }])));
    expect(() => StaticModel.loadSync(join(tmp, 'small-table'))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('"embeddings" has 100 rows but the tokenizer has 30522 ids') }),
    );
    bad('nan', (d) => {
      const data = new Float32Array(30522 * 8);
      data[42] = NaN;
      writeFileSync(join(d, 'model.safetensors'), safetensorsBytes([{ name: 'embeddings', shape: [30522, 8], data }]));
    });
    expect(() => StaticModel.loadSync(join(tmp, 'nan'))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('holds NaN at index 42') }),
    );
    expect(() => StaticModel.loadSync(join(tmp, 'does-not-exist'))).toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('is not a directory') }));
  });
});
