/**
 * Pieces of scripts/results.ts for the headline comparison of every setting: the TF-IDF reference
 * routers on the same split, a router's test scores with the options `evaluate()` uses, and paired
 * bootstrap intervals of a difference of metrics over the test rows.
 * @module
 */
import { evaluateScores, type EvalReport, type EvalScoresOptions } from '../src/evaluation/eval.js';
import type { Router } from '../src/app/router.js';
import { baselineScores } from '../src/training/baselines.js';
import type { OutcomeRecord } from '../src/training/data.js';
import { rng } from '../bench/corpus.js';

/** Resamples of the paired bootstrap (fixed before any figure was seen). */
export const BOOTSTRAP_RESAMPLES = 200;

/** One method's test scores and the evaluation options that go with them. */
export interface Scored {
  models: string[];
  scores: Float32Array;
  options: EvalScoresOptions;
}

/**
 * A router's scores of `records` and the options `evaluate()` passes with them (training mean
 * costs, the cost model, predicted costs), so that `evaluateScores` on any subset of rows
 * evaluates exactly what `evaluate()` would.
 */
export async function routerScored(router: Router, records: readonly OutcomeRecord[], base: EvalScoresOptions): Promise<Scored> {
  const prompts = records.map((r) => r.prompt);
  const M = router.models.length;
  const scores = new Float32Array(prompts.length * M);
  for (let s = 0; s < prompts.length; s += 1024) scores.set(await router.scores(prompts.slice(s, s + 1024)), s * M);
  const options: EvalScoresOptions = { ...base };
  const training = router.training;
  options.expectedCost = (id) => training?.models[id]?.meanCost ?? undefined;
  const cm = router.postprocess?.cost;
  if (cm) options.costModel = Object.fromEntries(router.models.map((id, j) => [id, { base: cm.base[j]!, perToken: cm.perToken[j]! }]));
  if (router.postprocess?.costNetwork) {
    const pc = new Float32Array(prompts.length * M);
    for (let s = 0; s < prompts.length; s += 1024) pc.set((await router.predictedCosts(prompts.slice(s, s + 1024)))!, s * M);
    options.predictedCosts = pc;
  }
  return { models: [...router.models], scores, options };
}

/** The rows `rows` of a scored method (scores and predicted costs), for a resample. */
function subset(s: Scored, rows: readonly number[]): { scores: Float32Array; options: EvalScoresOptions } {
  const M = s.models.length;
  const pick = (x: Float32Array): Float32Array => {
    const out = new Float32Array(rows.length * M);
    rows.forEach((i, t) => {
      out.set(x.subarray(i * M, i * M + M), t * M);
    });
    return out;
  };
  const options = { ...s.options };
  if (s.options.predictedCosts) options.predictedCosts = pick(s.options.predictedCosts);
  return { scores: pick(s.scores), options };
}

/** Evaluates a scored method on rows `rows` of `records` (all rows when omitted). */
export function evalRows(s: Scored, records: readonly OutcomeRecord[], rows?: readonly number[]): EvalReport {
  if (!rows) return evaluateScores(s.models, s.scores, records as OutcomeRecord[], s.options);
  const sub = subset(s, rows);
  return evaluateScores(s.models, sub.scores, rows.map((i) => records[i]!), sub.options);
}

/** The TF-IDF ridge and kNN references trained on `train`, scoring `test`, as Scored methods. */
export async function tfidfScored(train: readonly OutcomeRecord[], test: readonly OutcomeRecord[], models: readonly string[], base: EvalScoresOptions): Promise<{ ridge: Scored; knn: Scored }> {
  const b = await baselineScores(train, test.map((r) => r.prompt), models);
  return { ridge: { models: [...models], scores: b.ridge, options: base }, knn: { models: [...models], scores: b.knn, options: base } };
}

/** A difference's point value and its 95% paired bootstrap interval (2.5% and 97.5% quantiles). */
export interface Interval {
  point: number;
  lo: number;
  hi: number;
}

/**
 * Paired bootstrap over `n` test rows: every difference of `diffs(rows)` is computed on the same
 * resampled rows; {@link BOOTSTRAP_RESAMPLES} resamples, seeded, so reruns give the same
 * intervals. Resamples on which a difference is undefined (NaN) are left out of its interval.
 * `diffs(undefined)` is the point value on all rows.
 */
export function bootstrap(n: number, diffs: (rows: number[] | undefined) => number[], seed = 1): Interval[] {
  const r = rng(seed);
  const point = diffs(undefined);
  const xs: number[][] = point.map(() => []);
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    const rows = Array.from({ length: n }, () => Math.floor(r() * n));
    diffs(rows).forEach((d, k) => {
      if (Number.isFinite(d)) xs[k]!.push(d);
    });
  }
  return point.map((p, k) => {
    const v = xs[k]!.sort((a, b) => a - b);
    const q = (x: number): number => (v.length ? v[Math.min(v.length - 1, Math.max(0, Math.round(x * (v.length - 1))))]! : NaN);
    return { point: p, lo: q(0.025), hi: q(0.975) };
  });
}
