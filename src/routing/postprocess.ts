/**
 * What `train --auto` stores beside the native network and the Router applies after it: the mean of
 * extra ensemble members, a blend toward each model's mean training score (the prior), per-model
 * Platt calibration, and a per-model cost model priced by prompt length. All of it lives in the
 * artifact's string metadata, so the file format and the native core are unchanged.
 *
 * Cost on the hot path: one extra native scoring call per extra member (an ensemble of two costs
 * about twice the native time), then about 2 + 3·(calibrated models) float operations per model and
 * one `Math.exp` per calibrated model per prompt — well under a microsecond for 11 models.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';

/** Metadata key of the post-processing spec ({@link PostprocessSpec}, JSON). */
export const POSTPROCESS_KEY = 'routecore.postprocess';
/** Metadata key of extra ensemble member k (1-based): the member's `.router` bytes, base64. */
export const memberKey = (k: number): string => `routecore.member.${k}`;
/** Metadata key of the cost network ({@link PostprocessSpec.costNetwork}): its `.router` bytes, base64. */
export const COST_KEY = 'routecore.cost';
/** Metadata key of the `--auto` selection report (JSON, for people and `routecore info`). */
export const AUTO_KEY = 'routecore.auto';

/** Per-model Platt scaling: calibrated = sigmoid(a·logit(s) + b), s clipped to [1e-4, 1 − 1e-4]. */
export interface PlattCalibration {
  kind: 'platt';
  a: number[];
  b: number[];
}

/** Expected USD per query of each model: `base + perToken × prompt tokens` (⌈UTF-8 bytes / 4⌉). */
export interface CostModel {
  base: number[];
  perToken: number[];
}

/** The post-processing stored in an `--auto` router, columns in the router's model order. */
export interface PostprocessSpec {
  version: 1;
  /** Extra ensemble members stored under {@link memberKey}(1..members); 0 = the native network alone. */
  members: number;
  /** Weight of the (ensemble) prediction against the prior: s = beta·s + (1 − beta)·prior. 1 = no prior. */
  beta: number;
  /** Each model's mean training score. */
  prior: number[];
  /** Applied after the blend; null = none. */
  calibration: PlattCalibration | null;
  /** Replaces the training mean cost for models the registry does not price; null = the mean. */
  cost: CostModel | null;
  /**
   * Cost by prompt text: a network stored under {@link COST_KEY} predicts s = c / (c + mean) for
   * each model from the prompt, so the predicted USD per query is `mean × s / (1 − s)` (s clipped to
   * [1e-4, 1 − 1e-4]). It replaces the training mean for models the registry does not price; absent
   * or null = none.
   */
  costNetwork?: { mean: number[] } | null;
}

/** Predicted USD per query from a cost network's output s (see {@link PostprocessSpec.costNetwork}). */
export function costFromShare(s: number, mean: number): number {
  const p = Math.min(Math.max(s, EPS), 1 - EPS);
  return (mean * p) / (1 - p);
}

/** The label a cost network is trained on: c / (c + mean), 0.5 at the model's mean cost. */
export function costShare(c: number, mean: number): number {
  return mean > 0 ? c / (c + mean) : 0.5;
}

const EPS = 1e-4;

/** logit of s clipped to [EPS, 1 − EPS]. */
export function clippedLogit(s: number): number {
  const p = Math.min(Math.max(s, EPS), 1 - EPS);
  return Math.log(p / (1 - p));
}

function numberArray(v: unknown, n: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": ${what} must be an array of ${n} finite numbers`);
  }
  return v as number[];
}

/** Parses and checks a stored spec for a router of `m` models. */
export function parsePostprocess(raw: string, m: number): PostprocessSpec {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}" is not JSON`);
  }
  if (typeof v !== 'object' || v === null) throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}" is not an object`);
  const o = v as Record<string, unknown>;
  if (o['version'] !== 1) throw new RoutecoreError('ERR_ROUTECORE_ARTIFACT_VERSION', `router file metadata "${POSTPROCESS_KEY}" has version ${String(o['version'])}; this routecore reads version 1`);
  const members = o['members'];
  if (!Number.isInteger(members) || (members as number) < 0 || (members as number) > 16) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": members must be an integer from 0 to 16`);
  }
  const beta = o['beta'];
  if (typeof beta !== 'number' || !(beta >= 0 && beta <= 1)) throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": beta must be a number in [0, 1]`);
  const prior = numberArray(o['prior'], m, 'prior');
  let calibration: PlattCalibration | null = null;
  if (o['calibration'] !== null && o['calibration'] !== undefined) {
    const c = o['calibration'] as Record<string, unknown>;
    if (c['kind'] !== 'platt') throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": calibration.kind must be "platt"`);
    calibration = { kind: 'platt', a: numberArray(c['a'], m, 'calibration.a'), b: numberArray(c['b'], m, 'calibration.b') };
  }
  let cost: CostModel | null = null;
  if (o['cost'] !== null && o['cost'] !== undefined) {
    const c = o['cost'] as Record<string, unknown>;
    cost = { base: numberArray(c['base'], m, 'cost.base'), perToken: numberArray(c['perToken'], m, 'cost.perToken') };
    if ([...cost.base, ...cost.perToken].some((x) => x < 0)) throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": cost entries must be >= 0`);
  }
  let costNetwork: PostprocessSpec['costNetwork'] = null;
  if (o['costNetwork'] !== null && o['costNetwork'] !== undefined) {
    const c = o['costNetwork'] as Record<string, unknown>;
    const meanCost = numberArray(c['mean'], m, 'costNetwork.mean');
    if (meanCost.some((x) => x < 0)) throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${POSTPROCESS_KEY}": costNetwork.mean entries must be >= 0`);
    costNetwork = { mean: meanCost };
  }
  return { version: 1, members: members as number, beta, prior, calibration, cost, costNetwork };
}

/**
 * Applies a spec's blend and calibration in place to rows of scores (row-major, `m` per row), after
 * the members' mean has been taken. Preallocates everything; allocates nothing per call.
 */
export class ScorePostprocess {
  readonly #m: number;
  readonly #beta: number;
  readonly #priorPart: Float64Array; // (1 − beta)·prior
  readonly #a: Float64Array | null;
  readonly #b: Float64Array | null;

  constructor(spec: PostprocessSpec, m: number) {
    if (spec.prior.length !== m) throw invalidArgument('spec.prior', `${m} numbers`, spec.prior);
    this.#m = m;
    this.#beta = spec.beta;
    this.#priorPart = Float64Array.from(spec.prior, (p) => (1 - spec.beta) * p);
    this.#a = spec.calibration ? Float64Array.from(spec.calibration.a) : null;
    this.#b = spec.calibration ? Float64Array.from(spec.calibration.b) : null;
  }

  /** Post-processes `rows` rows of `out` starting at row 0. */
  apply(out: Float32Array, rows: number): void {
    const m = this.#m, beta = this.#beta, prior = this.#priorPart, a = this.#a, b = this.#b;
    for (let i = 0; i < rows; i++) {
      const o = i * m;
      for (let j = 0; j < m; j++) {
        let s = beta * out[o + j]! + prior[j]!;
        if (a !== null) {
          const z = a[j]! * clippedLogit(s) + b![j]!;
          s = 1 / (1 + Math.exp(-z));
        }
        out[o + j] = s;
      }
    }
  }
}

/** Applies blend and calibration to one score matrix out of place (training and evaluation code). */
export function postprocessScores(scores: Float32Array, m: number, spec: Omit<PostprocessSpec, 'version' | 'members' | 'cost'> & { prior: number[] | Float64Array }, priorRows?: Float32Array): Float32Array {
  const out = new Float32Array(scores.length);
  const rows = scores.length / m;
  const beta = spec.beta;
  const cal = spec.calibration;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < m; j++) {
      const k = i * m + j;
      const p = priorRows ? priorRows[k]! : spec.prior[j]!;
      let s = beta * scores[k]! + (1 - beta) * p;
      if (cal) s = 1 / (1 + Math.exp(-(cal.a[j]! * clippedLogit(s) + cal.b[j]!)));
      out[k] = s;
    }
  }
  return out;
}
