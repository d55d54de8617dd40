/**
 * The dense-input router of P4 and P5: an mlp (hidden 32, 11 models) trained as a `precomputed`
 * router on synthetic 384-d embeddings (the size of all-MiniLM-L6-v2's), and query embeddings
 * from the same distribution. Trained once per setup directory and cached there, so every suite's
 * child process races the same weights.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { train, type OutcomeRecord } from '../src/index.js';
import type { SetupInfo } from './common.js';
import { rng } from './corpus.js';

export const DENSE_DIM = 384;
export const DENSE_MODELS = 11;
const TOPICS = 16;

/**
 * Unit-norm embeddings around 16 random topic centroids (noise σ 0.6 per unit vector), and
 * 0/1 outcomes from a per-model, per-topic success rate: something real to learn.
 */
export function denseData(rows: number, seed: number): { x: Float32Array; records: OutcomeRecord[] } {
  const world = rng(1234); // the same topics and skills for every seed
  const gauss = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const centroids = Array.from({ length: TOPICS }, () => {
    const c = Float64Array.from({ length: DENSE_DIM }, () => gauss(world));
    const norm = Math.hypot(...c);
    return c.map((v) => v / norm);
  });
  const skill = Array.from({ length: DENSE_MODELS }, () => Array.from({ length: TOPICS }, () => 0.15 + 0.8 * world()));
  const rand = rng(seed);
  const x = new Float32Array(rows * DENSE_DIM);
  const records: OutcomeRecord[] = [];
  const v = new Float64Array(DENSE_DIM);
  for (let i = 0; i < rows; i++) {
    const t = Math.floor(rand() * TOPICS);
    let norm = 0;
    for (let k = 0; k < DENSE_DIM; k++) {
      v[k] = centroids[t]![k]! + (0.6 / Math.sqrt(DENSE_DIM)) * gauss(rand);
      norm += v[k]! * v[k]!;
    }
    norm = Math.sqrt(norm);
    for (let k = 0; k < DENSE_DIM; k++) x[i * DENSE_DIM + k] = v[k]! / norm;
    const scores: Record<string, number> = {};
    for (let j = 0; j < DENSE_MODELS; j++) scores[`model-${String(j + 1).padStart(2, '0')}`] = rand() < skill[j]![t]! ? 1 : 0;
    records.push({ id: `dense-${i}`, prompt: `dense-${i}`, scores });
  }
  return { x, records };
}

/** The cached dense router's bytes (training it on first use in this setup directory). */
export async function denseRouter(setup: SetupInfo): Promise<{ bytes: Buffer; path: string; trainRows: number; epochs: number | null }> {
  const path = join(dirname(setup.routerPath), `dense${DENSE_DIM}${setup.quick ? '-quick' : ''}.router`);
  const trainRows = setup.quick ? 600 : 4000;
  if (existsSync(path)) return { bytes: readFileSync(path), path, trainRows, epochs: null };
  const { x, records } = denseData(trainRows, 21);
  const { router, report } = await train(records, { embeddings: x, predictor: 'mlp', hidden: 32, maxEpochs: setup.quick ? 1 : 10, seed: 1, backend: 'cpu', threads: setup.threads });
  // F32 tables: onnxruntime gets float32 initializers, so both sides multiply the same numbers.
  await router.save(path);
  router.dispose();
  return { bytes: readFileSync(path), path, trainRows, epochs: report.epochs };
}

/** `count` query embeddings (a different seed from training). */
export function denseQueries(count: number): Float32Array {
  return denseData(count, 77).x;
}
