/**
 * The plain-TypeScript reference (src/reference.ts) against the native core: the same router file,
 * the same input, scores equal within 1e-5, for every encoder x predictor x table precision.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { binding, type NativeRouterHandle } from '../src/addon/native.js';
import { ReferenceRouter, floatToHalf, halfToFloat, readRouterFile, routerNetwork } from '../src/evaluation/reference.js';
import { train, type PredictorKind } from '../src/training/train.js';
import { rng } from '../bench/corpus.js';

const root = resolve(__dirname, '..');

const WORDS = [
  ['integer', 'sum', 'triangle', 'prime', 'fraction', 'solve', 'equation', 'radius'],
  ['function', 'python', 'array', 'loop', 'return', 'string', 'regex', 'class'],
  ['empire', 'revolution', 'treaty', 'king', 'war', 'century', 'dynasty', 'colony'],
];

/** Prompts over three topics; model j is good at topic j. Returns records and 16-d embeddings. */
function dataset(n: number, dim: number, seed: number): { records: OutcomeRecord[]; x: Float32Array; prompts: string[] } {
  const rand = rng(seed);
  const records: OutcomeRecord[] = [];
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const t = i % 3;
    const words = Array.from({ length: 8 + Math.floor(rand() * 30) }, () => (rand() < 0.6 ? WORDS[t]![Math.floor(rand() * 8)]! : `w${Math.floor(rand() * 50)}`));
    const scores: Record<string, number> = {};
    for (let j = 0; j < 3; j++) scores[`m${j}`] = rand() < (j === t ? 0.9 : 0.3) ? 1 : 0;
    records.push({ id: String(i), prompt: words.join(' ') + (rand() < 0.3 ? ' Ünïcödé café 東京?' : '.'), scores });
    for (let k = 0; k < dim; k++) x[i * dim + k] = (k % 3 === t ? 1 : 0) + (rand() - 0.5) * 0.8;
  }
  return { records, x, prompts: records.map((r) => r.prompt) };
}

function load(bytes: Uint8Array): NativeRouterHandle {
  return binding().NativeRouter.load(bytes, '<test>', 'cpu', 1);
}

function pack(prompts: string[]): { text: Buffer; offsets: Uint32Array } {
  const parts = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
  return { text: Buffer.concat(parts), offsets };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const DIM = 24;
const data = dataset(240, DIM, 5);
const queries = dataset(60, DIM, 99);

describe.each<[PredictorKind, boolean]>([
  ['mlp', false],
  ['mlp', true],
  ['linear', false],
  ['linear', true],
  ['mf', false],
  ['mf', true],
])('reference %s (F16 table: %s)', (predictor, half) => {
  it('matches native scores on a hashing router, given the native encoder\'s sparse rows', async () => {
    const { router } = await train(data.records, { predictor, hidden: 16, dim: 16, encoder: { log2Buckets: 12 }, maxEpochs: 6, seed: 3 });
    const bytes = router.serialize({ halfPrecision: half });
    router.dispose();
    const native = load(bytes);
    const ref = ReferenceRouter.fromBytes(bytes);
    expect(ref.net.encoder).toBe('hashing');
    expect(ref.net.predictor).toBe(predictor);
    expect(ref.net.tableHalf).toBe(half);
    expect(ref.inputDim).toBe(4096);
    expect(ref.outputs).toBe(3);
    const { text, offsets } = pack(queries.prompts);
    const n = queries.prompts.length;
    const want = new Float32Array(n * 3);
    native.scoreSync(text, offsets, n, want);
    const got = ref.scoreSparse(native.encode(text, offsets, n));
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
    // Trained, not constant: the scores differ across prompts.
    expect(new Set(Array.from(want, (v) => v.toFixed(4))).size).toBeGreaterThan(10);
    native.dispose();
  });

  it('matches native scores on a precomputed (dense) router', async () => {
    const { router } = await train(data.records, { predictor, hidden: 16, dim: 16, embeddings: data.x, maxEpochs: 6, seed: 3 });
    const bytes = router.serialize({ halfPrecision: half });
    router.dispose();
    const native = load(bytes);
    const ref = ReferenceRouter.fromBytes(bytes);
    expect(ref.net.encoder).toBe('precomputed');
    expect(ref.inputDim).toBe(DIM);
    const n = queries.prompts.length;
    const want = new Float32Array(n * 3);
    native.scoreEmbeddingsSync(queries.x, n, DIM, want);
    const got = ref.scoreDense(queries.x, n);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
    // Row by row into a caller's buffer gives the same.
    const one = new Float32Array(3);
    ref.scoreDense(queries.x.subarray(DIM, 2 * DIM), 1, one);
    expect(Array.from(one)).toEqual(Array.from(got.subarray(3, 6)));
    native.dispose();
  });
});

describe('reference on the shipped default router', () => {
  it('reads the F16 default router and matches native scores', () => {
    const bytes = readFileSync(join(root, 'models', 'default.router'));
    const native = load(bytes);
    const ref = ReferenceRouter.fromBytes(bytes);
    expect(ref.net.models).toEqual(['strong', 'weak']);
    expect(ref.net.predictor).toBe(native.predictor);
    const prompts = ['Prove that there are infinitely many primes.', 'hi', queries.prompts[0]!, 'Écris une fonction Python qui trie une liste. '.repeat(20)];
    const { text, offsets } = pack(prompts);
    const want = new Float32Array(prompts.length * native.outputs);
    native.scoreSync(text, offsets, prompts.length, want);
    expect(maxAbsDiff(ref.scoreSparse(native.encode(text, offsets, prompts.length)), want)).toBeLessThanOrEqual(1e-5);
    native.dispose();
  });
});

describe('router file parsing', () => {
  it('converts floats to binary16 and back: every finite half round-trips, halfway cases round to even, overflow is Infinity', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue; // Infinity and NaN patterns
      expect(floatToHalf(halfToFloat(bits))).toBe(bits);
    }
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next half: to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(-1e6)).toBe(0xfc00);
  });

  it('converts binary16 exactly', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x8000)).toBe(-0);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it('reads metadata and tensors, and refuses what is not a router file', async () => {
    const { router } = await train(data.records.slice(0, 60), { predictor: 'linear', embeddings: data.x.subarray(0, 60 * DIM), maxEpochs: 1 });
    const bytes = router.serialize();
    router.dispose();
    const file = readRouterFile(bytes);
    expect(file.metadata.encoder).toBe('precomputed');
    expect(file.tensors.get('linear.weight')!.shape).toEqual([DIM, 3]);
    expect(routerNetwork(file).outputs).toBe(3);

    expect(() => readRouterFile(bytes.subarray(0, 5))).toThrow(/truncated/);
    expect(() => readRouterFile(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated: tensor/);
    const notOurs = Buffer.alloc(8 + 16, 0x20);
    notOurs.writeBigUInt64LE(16n, 0);
    notOurs.write('{"a":1}', 8);
    expect(() => readRouterFile(notOurs)).toThrow(/not a routecore router/);
    try {
      readRouterFile(notOurs);
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_ROUTECORE_BAD_ARTIFACT');
    }
  });
});
