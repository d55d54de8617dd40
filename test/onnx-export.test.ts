/**
 * ONNX export: the exported model, run by onnxruntime-node, reproduces routecore's scores within
 * 1e-4 at batch sizes 1, 7 and 256, for precomputed and hashing routers, mlp and linear, F32 and
 * F16 tables; and the CLI writes the same model.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { binding, type NativeRouterHandle } from '../src/addon/native.js';
import { ONNX_INPUT, ONNX_OUTPUT, exportOnnx } from '../src/evaluation/onnx-export.js';
import { Router } from '../src/app/router.js';
import { train, type PredictorKind } from '../src/training/train.js';
import { rng } from '../bench/corpus.js';

// onnxruntime-node is a dev dependency (an optional peer for users), loaded lazily: without it
// these tests skip and say how to install it.
const loaded = await import('onnxruntime-node').catch((err: unknown) => {
  console.warn(`onnx-export tests skipped: onnxruntime-node is not installed (${(err as Error).message.split('\n')[0]}); run \`npm install --no-save onnxruntime-node\``);
  return undefined;
});
/** Used only inside suites that skip when `loaded` is undefined. */
const ort = loaded as typeof import('onnxruntime-node');

const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'routecore-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TOPICS = [
  ['integer', 'sum', 'triangle', 'prime', 'fraction', 'solve'],
  ['function', 'python', 'array', 'loop', 'return', 'string'],
  ['empire', 'revolution', 'treaty', 'king', 'war', 'century'],
];
const DIM = 48;
const BATCHES = [1, 7, 256];

/** Records over three topics (model j good at topic j) with DIM-d embeddings. */
function dataset(n: number, seed: number): { records: OutcomeRecord[]; x: Float32Array } {
  const rand = rng(seed);
  const records: OutcomeRecord[] = [];
  const x = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const t = i % 3;
    const words = Array.from({ length: 6 + Math.floor(rand() * 25) }, () => (rand() < 0.6 ? TOPICS[t]![Math.floor(rand() * 6)]! : `w${Math.floor(rand() * 40)}`));
    const scores: Record<string, number> = {};
    for (let j = 0; j < 3; j++) scores[`m${j}`] = rand() < (j === t ? 0.9 : 0.3) ? 1 : 0;
    records.push({ id: String(i), prompt: words.join(' '), scores });
    for (let k = 0; k < DIM; k++) x[i * DIM + k] = (k % 3 === t ? 1 : 0) + (rand() - 0.5);
  }
  return { records, x };
}

const train_ = dataset(300, 1);
const query = dataset(256, 2);
const queryPrompts = query.records.map((r) => r.prompt);

function pack(prompts: string[]): { text: Buffer; offsets: Uint32Array } {
  const parts = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
  return { text: Buffer.concat(parts), offsets };
}

/** routecore's scores and the model's input for the first `n` queries. */
function nativeScores(native: NativeRouterHandle, n: number): { want: Float32Array; features: Float32Array } {
  const want = new Float32Array(n * native.outputs);
  if (native.encoder === 'precomputed') {
    const features = query.x.slice(0, n * DIM);
    native.scoreEmbeddingsSync(features, n, DIM, want);
    return { want, features };
  }
  // Hashing: the ONNX input is the encoder's sparse row scattered into a dense 2^k vector.
  const { text, offsets } = pack(queryPrompts.slice(0, n));
  native.scoreSync(text, offsets, n, want);
  const rows = native.encode(text, offsets, n);
  const features = new Float32Array(n * native.inputDim);
  for (let r = 0; r < n; r++) {
    for (let k = rows.rowStart[r]!; k < rows.rowStart[r + 1]!; k++) features[r * native.inputDim + rows.index[k]!] += rows.value[k]!;
  }
  return { want, features };
}

async function expectSameScores(routerBytes: Uint8Array, onnx: Uint8Array): Promise<void> {
  const native = binding().NativeRouter.load(routerBytes, '<test>', 'cpu', 1);
  const session = await ort.InferenceSession.create(onnx);
  try {
    expect(session.inputNames).toEqual([ONNX_INPUT]);
    expect(session.outputNames).toEqual([ONNX_OUTPUT]);
    for (const n of BATCHES) {
      const { want, features } = nativeScores(native, n);
      const result = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', features, [n, native.inputDim]) });
      const got = result[ONNX_OUTPUT]!;
      expect(got.dims).toEqual([n, native.outputs]);
      const data = got.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(data[i]! - want[i]!));
      expect(worst, `batch ${n}`).toBeLessThanOrEqual(1e-4);
    }
  } finally {
    await session.release();
    native.dispose();
  }
}

describe.skipIf(!loaded).each<[string, PredictorKind, boolean]>([
  ['precomputed', 'mlp', false],
  ['precomputed', 'mlp', true],
  ['precomputed', 'linear', false],
  ['precomputed', 'mf', false],
  ['hashing', 'mlp', true],
  ['hashing', 'linear', false],
  ['hashing', 'mf', true],
])('exportOnnx: %s %s (F16 table: %s)', (encoder, predictor, half) => {
  it('reproduces routecore scores in onnxruntime at batch 1, 7, 256', async () => {
    const { router } =
      encoder === 'precomputed'
        ? await train(train_.records, { predictor, hidden: 16, dim: 16, embeddings: train_.x, maxEpochs: 8, seed: 4 })
        : await train(train_.records, { predictor, hidden: 16, dim: 16, encoder: { log2Buckets: 11 }, maxEpochs: 8, seed: 4 });
    const bytes = router.serialize({ halfPrecision: half });
    router.dispose();
    await expectSameScores(bytes, exportOnnx(bytes));
  });
});

describe('exportOnnx', () => {
  it('refuses bytes that are not a router file', () => {
    expect(() => exportOnnx(new Uint8Array(4))).toThrow(/truncated/);
    expect(() => exportOnnx('x' as unknown as Uint8Array)).toThrow(/bytes of a .router file/);
  });

  it.skipIf(!loaded)('writes an ONNX model that names the router\'s models', async () => {
    const { router } = await train(train_.records, { hidden: 8, embeddings: train_.x, maxEpochs: 2 });
    const session = await ort.InferenceSession.create(exportOnnx(router.serialize()));
    router.dispose();
    // onnxruntime-node exposes no model metadata; the input's declared shape is visible.
    const input = session.inputMetadata[0] as { name: string; isTensor: boolean; shape?: (number | string)[] };
    expect(input.name).toBe('features');
    expect(input.shape).toEqual(['N', DIM]);
    await session.release();
  });
});

const cli = join(root, 'dist', 'src', 'cli', 'main.js');
describe.skipIf(!existsSync(cli) || !loaded)('routecore export --onnx', () => {
  it('exports a router file and the embedded default router', async () => {
    const { router } = await train(train_.records, { hidden: 16, embeddings: train_.x, maxEpochs: 4, seed: 2 });
    const routerPath = join(tmp, 'dense.router');
    await router.save(routerPath);
    router.dispose();
    const out = join(tmp, 'dense.onnx');
    const r = spawnSync(process.execPath, [cli, 'export', '--onnx', '--router', routerPath, '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('wrote');
    expect(Buffer.compare(readFileSync(out), Buffer.from(exportOnnx(readFileSync(routerPath))))).toBe(0);
    await expectSameScores(readFileSync(routerPath), readFileSync(out));

    const def = join(tmp, 'default.onnx');
    const d = spawnSync(process.execPath, [cli, 'export', '--onnx', '--out', def], { encoding: 'utf8', timeout: 60_000 });
    expect(d.status, d.stderr).toBe(0);
    const session = await ort.InferenceSession.create(readFileSync(def));
    expect(session.outputNames).toEqual(['scores']);
    await session.release();
    const loaded = Router.loadSync('default');
    expect(loaded.encoder).toBe('hashing');
    loaded.dispose();

    const bad = spawnSync(process.execPath, [cli, 'export', '--router', routerPath, '--out', out], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--onnx');
    writeFileSync(join(tmp, 'junk.router'), 'not a router');
    const junk = spawnSync(process.execPath, [cli, 'export', '--onnx', '--router', join(tmp, 'junk.router'), '--out', out], { encoding: 'utf8' });
    expect(junk.status).toBe(1);
    expect(junk.stderr).toContain('ERR_ROUTECORE_BAD_ARTIFACT');
  }, 60_000);
});
