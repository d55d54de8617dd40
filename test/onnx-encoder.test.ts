/**
 * The onnx encoder on a tiny random transformer generated here (test/tiny-transformer.ts):
 * onnxruntime-node's output, pooled, must match a TypeScript forward pass of the same weights;
 * batches of 1, 7 and 64 (padded) must agree with one text at a time; mean and CLS pooling; the
 * BERT framing ([CLS] … [SEP]) must be the reference tokenizer's; a model with the wrong output
 * shape or NaN outputs is a coded error, not a crash.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { OnnxEncoder } from '../src/encoders/onnx.js';
import { train } from '../src/training/train.js';
import { bertTokenizerJson } from './encoder-fixtures.js';
import { randomTransformer, referenceForward, transformerOnnx } from './tiny-transformer.js';

const built = typeof (binding() as { NativeTokenizer?: unknown }).NativeTokenizer === 'function';
if (!built) console.warn('onnx encoder: the loaded addon predates NativeTokenizer; rebuild it (npm run build) to run these tests');

const tmp = mkdtempSync(join(tmpdir(), 'routecore-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tokenizerJson = bertTokenizerJson();
const model = randomTransformer(30522, 16, 32, 5);

function writeModel(name: string, variant: 'normal' | 'wrong-shape' | 'nan' = 'normal', nested = false): string {
  const dir = join(tmp, name);
  mkdirSync(nested ? join(dir, 'onnx') : dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(nested ? join(dir, 'onnx') : dir, 'model.onnx'), transformerOnnx(model, variant));
  return dir;
}

const texts = [
  'How do I bake sourdough bread at home?',
  'Solve the integral of x squared from 0 to 3.',
  'Café déjà vu — 中文',
  'a',
  'The quick brown fox jumps over the lazy dog. '.repeat(6),
  '[CLS] special tokens in the text [SEP]',
  'zzzqqqxxx unknown wordpieces',
];

function referenceRows(pooling: 'mean' | 'cls'): Float64Array[] {
  const ref = new Tokenizer(tokenizerJson as never, {});
  return texts.map((t) => {
    const ids = ref.encode(t, { add_special_tokens: true }).ids;
    const states = referenceForward(model, ids);
    const row = new Float64Array(model.hidden);
    if (pooling === 'cls') row.set(states[0]!);
    else for (const s of states) for (let j = 0; j < row.length; j++) row[j] += s[j]! / states.length;
    const norm = Math.hypot(...row);
    return row.map((v) => v / norm);
  });
}

describe.runIf(built)('onnx encoder', () => {
  const dir = writeModel('tiny');

  it('matches a TypeScript forward pass of the same weights (mean pooling, BERT framing)', async () => {
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu' });
    expect(enc.dim).toBe(16);
    expect(enc.executionProvider).toBe('cpu');
    expect(enc.name).toMatch(/^onnx:tiny@[0-9a-f]{12}$/);
    const rows = await enc.encode(texts);
    const want = referenceRows('mean');
    texts.forEach((_, i) => {
      for (let j = 0; j < 16; j++) expect(rows[i * 16 + j]).toBeCloseTo(want[i]![j]!, 4);
    });
    await enc.dispose();
  });

  it('pools the first token with pooling: cls, and finds onnx/model.onnx', async () => {
    const enc = await OnnxEncoder.load(writeModel('nested', 'normal', true), { pooling: 'cls', backend: 'cpu' });
    const rows = await enc.encode(texts);
    const want = referenceRows('cls');
    texts.forEach((_, i) => {
      for (let j = 0; j < 16; j++) expect(rows[i * 16 + j]).toBeCloseTo(want[i]![j]!, 4);
    });
    await enc.dispose();
  });

  it('gives the same rows in batches of 1, 7 and 64 (padding is masked), and coalesces concurrent calls', async () => {
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu', maxBatch: 64 });
    const many = Array.from({ length: 64 }, (_, i) => `${texts[i % texts.length]} variant ${i}${' more'.repeat(i % 9)}`);
    const one = new Float32Array(64 * 16);
    for (let i = 0; i < 64; i++) one.set(await enc.encode([many[i]!]), i * 16);
    const seven = new Float32Array(64 * 16);
    for (let i = 0; i < 64; i += 7) seven.set(await enc.encode(many.slice(i, i + 7)), i * 16);
    const all = await enc.encode(many);
    for (let k = 0; k < one.length; k++) {
      expect(all[k]).toBeCloseTo(one[k]!, 5);
      expect(seven[k]).toBeCloseTo(one[k]!, 5);
    }
    const runsBefore = enc.stats.runs;
    const parts = await Promise.all(many.slice(0, 10).map((t) => enc.encode([t])));
    expect(enc.stats.runs - runsBefore).toBe(1); // ten calls in one turn: one session run
    parts.forEach((p, i) => {
      for (let j = 0; j < 16; j++) expect(p[j]).toBeCloseTo(one[i * 16 + j]!, 5);
    });
    await enc.dispose();
  });

  it('serves a router trained on its rows through the encoder seam (route, not routeSync), and a file refuses another encoder', async () => {
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu' });
    const records = Array.from({ length: 60 }, (_, i) => ({
      id: `r${i}`,
      prompt: i % 2 ? `Please bake bread with flour ${i}` : `Please solve the integral ${i}`,
      scores: i % 2 ? { a: 0, b: 1 } : { a: 1, b: 0 },
    }));
    const x = await enc.encode(records.map((r) => r.prompt));
    const { router } = await train(records, { predictor: 'linear', embeddings: x, maxEpochs: 60, learningRate: 0.05, router: { encoder: enc } });
    const file = join(tmp, 'onnx.router');
    await router.save(file);
    router.dispose();
    const served = Router.loadSync(file, { encoder: enc });
    const decision = await served.route('Please solve the integral 99');
    expect(decision.models ?? [decision.model]).toContain(decision.model);
    expect(Object.keys(decision.scores).sort()).toEqual(['a', 'b']);
    expect(() => served.routeSync('anything')).toThrow(expect.objectContaining({ message: expect.stringContaining('encodes asynchronously only') }));
    served.dispose();
    const other = await OnnxEncoder.load(writeModel('other', 'normal', true), { backend: 'cpu' });
    const renamed = { name: 'onnx:elsewhere', dim: other.dim, encode: (t: readonly string[]) => other.encode(t) };
    expect(() => Router.loadSync(file, { encoder: renamed })).toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_MODEL_MISMATCH' }));
    await enc.dispose();
    await other.dispose();
  });

  it('routecore train --encoder onnx:DIR trains on the encoder\'s rows; route --text-encoder serves it as the library does', async () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
    const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
    const data = join(tmp, 'train.jsonl');
    writeFileSync(
      data,
      Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: `r${i}`, prompt: i % 2 ? `Please bake bread with flour ${i}` : `Please solve the integral ${i}`, scores: i % 2 ? { a: 0, b: 1 } : { a: 1, b: 0 } })).join('\n') + '\n',
    );
    const out = join(tmp, 'cli-onnx.router');
    const t = run(['train', '--data', data, '--out', out, '--encoder', `onnx:${dir}`, '--predictor', 'linear', '--epochs', '20']);
    expect(t.stderr).toContain('encoding 60 prompts with onnx:tiny@');
    expect(t.status).toBe(0);
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu' });
    const lib = Router.loadSync(out, { encoder: enc });
    expect(lib.encoder).toBe('precomputed');
    const expected = await lib.route('Please bake bread 7');
    lib.dispose();
    await enc.dispose();
    const r = run(['route', '--router', out, '--text-encoder', `onnx:${dir}`, 'Please bake bread 7']);
    expect(r.status).toBe(0);
    const decision = JSON.parse(r.stdout.trim()) as { model: string; scores: Record<string, number> };
    expect(decision.model).toBe(expected.model);
    const bad = run(['train', '--data', data, '--out', out, '--encoder', `onnx:${dir}`, '--link-model']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--link-model and --buckets apply to the hashing, static and mixed encoders, not onnx:DIR');
  });

  it('refuses a model with the wrong output shape, NaN outputs, or no model file, with coded errors', async () => {
    await expect(OnnxEncoder.load(writeModel('wrong', 'wrong-shape'), { backend: 'cpu' })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringMatching(/has shape \[\]; expected \[batch 1, tokens 3, hidden\]/) }),
    );
    await expect(OnnxEncoder.load(writeModel('nan', 'nan'), { backend: 'cpu' })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('the model output NaN for text 0') }),
    );
    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    await expect(OnnxEncoder.load(empty)).rejects.toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_BAD_MODEL', message: expect.stringContaining('holds no model.onnx') }));
    await expect(OnnxEncoder.load(dir, { pooling: 'max' as never })).rejects.toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_INVALID_ARGUMENT' }));
  });
});
