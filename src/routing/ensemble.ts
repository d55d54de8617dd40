/**
 * Score-averaging ensembles of routers: several routers trained on the same models (e.g. an `mlp`
 * and a `linear` predictor, or one predictor under several seeds) score each prompt, and the
 * ensemble's predicted score of a model is the (weighted) mean of the members' predictions. The
 * result has the shape of {@link RouterCore.scores} (prompts × models, row-major), so it feeds
 * `evaluateScores` and the policies like a single router's scores.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import type { RouterCore } from './router.js';

/** What an ensemble member must offer: its model ids in column order and a batch scorer. */
export interface ScoreSource {
  readonly models: readonly string[];
  scores(prompts: readonly string[]): Promise<Float32Array>;
}

/**
 * Element-wise weighted mean of equally shaped score matrices. `weights` (default: equal) must be
 * non-negative with a positive sum; they are normalised. NaN in any member gives NaN in the result.
 */
export function averageScores(parts: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  if (!Array.isArray(parts) || parts.length === 0) throw invalidArgument('parts', 'a non-empty array of Float32Array', parts);
  const len = parts[0]?.length;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k];
    if (!(p instanceof Float32Array)) throw invalidArgument(`parts[${k}]`, 'a Float32Array', p);
    if (p.length !== len) throw invalidArgument(`parts[${k}]`, `a Float32Array of length ${len} (like parts[0])`, p);
  }
  const w = checkWeights(weights, parts.length);
  const out = new Float32Array(len!);
  const acc = new Float64Array(len!);
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!, wk = w[k]!;
    if (wk === 0) continue;
    for (let i = 0; i < acc.length; i++) acc[i] += wk * p[i]!;
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i]!;
  return out;
}

function checkWeights(weights: readonly number[] | undefined, n: number): number[] {
  if (weights === undefined) return new Array<number>(n).fill(1 / n);
  if (!Array.isArray(weights) || weights.length !== n) throw invalidArgument('weights', `an array of ${n} numbers (one per member)`, weights);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const x: unknown = weights[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw invalidArgument(`weights[${k}]`, 'a finite number >= 0', x);
    sum += x;
  }
  if (!(sum > 0)) throw invalidArgument('weights', 'weights with a positive sum', weights);
  return weights.map((x) => x / sum);
}

/**
 * A {@link ScoreSource} that predicts the same score for every prompt: `values[j]` for `models[j]`
 * (e.g. each model's mean training score, the "prior"). Blending it into an ensemble with weight
 * 1 − β shrinks the routers' per-prompt predictions toward the prior, so the `best` policy leaves the
 * model that is best on average only where the routers predict a large enough advantage.
 */
export function constantSource(models: readonly string[], values: readonly number[]): ScoreSource {
  if (!Array.isArray(models) || models.length === 0 || models.some((m) => typeof m !== 'string')) {
    throw invalidArgument('models', 'a non-empty array of model ids', models);
  }
  if (!Array.isArray(values) || values.length !== models.length) throw invalidArgument('values', `an array of ${models.length} numbers`, values);
  for (let j = 0; j < values.length; j++) {
    const v: unknown = values[j];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(`values[${j}]`, 'a finite number', v);
  }
  const ids = [...models];
  const row = Float32Array.from(values);
  return {
    models: ids,
    scores: async (prompts: readonly string[]) => {
      const out = new Float32Array(prompts.length * ids.length);
      for (let i = 0; i < prompts.length; i++) out.set(row, i * ids.length);
      return out;
    },
  };
}

/**
 * An ensemble of routers (or any {@link ScoreSource}) over the same set of models. Members may list
 * the models in different orders: the ensemble uses the first member's order and realigns the rest.
 */
export class ScoreEnsemble implements ScoreSource {
  readonly #members: readonly ScoreSource[];
  readonly #weights: number[];
  readonly #perm: Int32Array[];
  readonly models: readonly string[];

  constructor(members: readonly ScoreSource[], weights?: readonly number[]) {
    if (!Array.isArray(members) || members.length === 0) throw invalidArgument('members', 'a non-empty array of routers', members);
    for (let k = 0; k < members.length; k++) {
      const m = members[k] as ScoreSource | undefined;
      if (typeof m !== 'object' || m === null || typeof m.scores !== 'function' || !Array.isArray(m.models)) {
        throw invalidArgument(`members[${k}]`, 'a Router (an object with models and scores())', m);
      }
    }
    this.#members = [...members];
    this.#weights = checkWeights(weights, members.length);
    this.models = [...members[0]!.models];
    const want = new Set(this.models);
    this.#perm = this.#members.map((m: ScoreSource, k: number) => {
      const ids: readonly string[] = m.models;
      if (ids.length !== this.models.length || ids.some((id) => !want.has(id))) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_INVALID_ARGUMENT',
          `members[${k}] routes models (${ids.join(', ')}), not the same set as members[0] (${this.models.join(', ')})`,
        );
      }
      // perm[c] = column of members[k] holding the ensemble's model c.
      return Int32Array.from(this.models.map((id) => ids.indexOf(id)));
    });
  }

  /** The members, in the order given. */
  get members(): readonly ScoreSource[] {
    return this.#members;
  }

  /** Weighted mean of the members' predicted scores: prompts × models, row-major, in {@link models} order. */
  async scores(prompts: readonly string[]): Promise<Float32Array> {
    const M = this.models.length;
    const parts = await Promise.all(this.#members.map((m) => m.scores(prompts)));
    const aligned = parts.map((p, k) => {
      const perm = this.#perm[k]!;
      if (p.length !== prompts.length * M) {
        throw new RoutecoreError('ERR_ROUTECORE_INTERNAL', `members[${k}] returned ${p.length} scores for ${prompts.length} prompts x ${M} models`);
      }
      if (perm.every((c, j) => c === j)) return p;
      const out = new Float32Array(p.length);
      for (let i = 0; i < prompts.length; i++) for (let j = 0; j < M; j++) out[i * M + j] = p[i * M + perm[j]!]!;
      return out;
    });
    return averageScores(aligned, this.#weights);
  }

  /** Disposes every member that has a `dispose()` (routers hold native memory). */
  dispose(): void {
    for (const m of this.#members) (m as Partial<RouterCore>).dispose?.();
  }
}
