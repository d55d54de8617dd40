/**
 * Evaluation (docs/ARCHITECTURE.md "Evaluation"): replays outcome records through a router and reports the
 * cost–quality trade-off of its policies against the baselines (single models, random routing at
 * matched cost, the oracle, the zero-router), with RouteLLM's PGR/APGR/CPT for two models and
 * RouterBench's AIQ.
 *
 * Conventions, applied everywhere in the report:
 * - **Rows.** A record is evaluated when it scores at least one evaluated model; the rest are counted
 *   in `excludedRows`. Evaluated models are the router's models that appear in the records and, when a
 *   registry is given, are registered and enabled in it (the Router's own rule).
 * - **Missing scores.** A row that lacks a model's score is left out of that model's single baseline
 *   (so `singles[id].rows` may be below `rows`), and routing decisions on that row only consider the
 *   models it scores: the policy's ranking is computed as in production and the first ranked model
 *   the row scores is taken. The oracle likewise picks among the models the row scores.
 * - **Quality** of sending row i to model m is `records[i].scores[m]`; a point's quality is the mean
 *   over its rows.
 * - **Cost** of sending row i to model m (what is *accounted*) is, in order: `records[i].costs[m]`;
 *   else the registry price at ⌈prompt bytes / 4⌉ input tokens plus `expectedOutputTokens` output
 *   tokens; else the router's mean training cost of m; else 0, counted in `costSources[m].none` with a
 *   warning. `cost1k` is USD per 1,000 queries (1000 × mean per-query cost).
 * - **Decisions** of the `cost` policy use what a deployed router knows before the call, exactly as
 *   {@link Router} does: the registry price repriced at the prompt's token estimate, else the router's
 *   mean training cost, else (no router, e.g. {@link evaluateScores} on a bare score matrix) the mean
 *   accounted per-query cost of the model over the evaluation rows. Ranking is `policy.ts`'s
 *   `rankBest` / `rankCost`.
 * - **Sweep.** `best` once; `cost` over λ (USD-per-query units: maximise score − λ·cost) and over
 *   `targetScore` (cheapest model predicted to reach the target). The default λ grid is the log grid
 *   {@link DEFAULT_LAMBDAS} plus a *normalised* grid λ = s / spread, s ∈ {@link DEFAULT_NORMALIZED_LAMBDAS},
 *   where spread is the gap between the most and least expensive single model's per-query cost, so the
 *   sweep spans the trade-off whatever the unit of cost. Every λ point reports `lambdaNorm` = λ × spread
 *   (score points traded for the whole cost span). With exactly two models, the `threshold` sweep
 *   (share of prompts sent to the strong model, 0, 0.1, …, 1, by routing score) is added when every row
 *   scores both models.
 * - **Random at matched cost.** For each sweep point, random routing that picks, per prompt, the most
 *   expensive single model H with probability p and the cheapest single model L otherwise, with p set
 *   so the expected cost matches the point's cost: p = (C − c_L)/(c_H − c_L), clamped to [0, 1]; its
 *   expected quality is (1 − p)·q_L + p·q_H (the chord between the two ends of the cost range). When
 *   all single models cost the same (no cost information), L is the lowest-quality and H the
 *   highest-quality model and p is the share of calls the point sends to H — for two models this is
 *   RouteLLM's random baseline at matched strong share.
 * - **Two models:** strong = the model with the higher mean quality over rows scoring both; routing
 *   score = predicted score(strong) − predicted score(weak); PGR curve (100 steps), APGR and CPT(50%),
 *   CPT(80%) from `metrics.ts`, on the rows scoring both models. With more models these are null.
 * - **AIQ** (any number of models, when the single models' costs differ): the mean quality of the
 *   non-decreasing convex hull over [cheapest single cost1k, most expensive single cost1k], for the
 *   router's sweep points and for the single models (the zero-router).
 * @module
 */
import { RoutecoreError, invalidArgument, isRoutecoreError } from '../errors.js';
import { modelIdsOf, type OutcomeRecord } from '../training/data.js';
import { aiq, apgr, convexHull, cpt, pgrCurve, type PgrPoint } from './metrics.js';
import { buildCandidates, rankBest, rankCost, type CandidateTable, type PolicyName } from '../routing/policy.js';
import { Registry } from '../routing/registry.js';
import { estimateTokens } from '../routing/prompt.js';
import type { RouterCore } from '../routing/router.js';
import { fnv1a32 } from '../training/hash.js';
import { reliability, type Reliability } from './calibration.js';

export { fnv1a32 };

/** The default λ grid of the `cost` sweep, in score per USD-per-query. */
export const DEFAULT_LAMBDAS: readonly number[] = Object.freeze([0, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000]);
/** The default normalised λ grid: λ × (cost spread of the single models, USD per query). */
export const DEFAULT_NORMALIZED_LAMBDAS: readonly number[] = Object.freeze([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100]);
/** The default `targetScore` grid of the `cost` sweep. */
export const DEFAULT_TARGETS: readonly number[] = Object.freeze([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]);

/** Rough tokens per UTF-8 byte of English text (the Router's estimate). */
/** Prompts scored per native call in {@link evaluate}, so progress can be reported. */
const SCORE_CHUNK = 1024;
/** Quality differences below this count as ties. */
const QUALITY_EPSILON = 1e-9;

/** A cost–quality operating point. */
export interface EvalPoint {
  /** Mean score of the chosen models over the rows. */
  quality: number;
  /** USD per 1,000 queries. */
  cost1k: number;
  /** Share of calls per model (only models called at least once). */
  shares: Record<string, number>;
}

/** One point of the router's sweep. */
export interface SweepPoint extends EvalPoint {
  /** The policy: `best`, `cost` (λ or target) or `threshold` (two models). */
  policy: Exclude<PolicyName, 'subset'>;
  /** Which knob `knob` is: `lambda`, `targetScore`, `strongShare`; null for `best`. */
  param: 'lambda' | 'targetScore' | 'strongShare' | null;
  /** The knob's value; null for `best`. */
  knob: number | null;
  /** `lambda` points: λ × the single models' per-query cost spread. */
  lambdaNorm?: number;
  /** `threshold` points: the lowest routing score sent to the strong model (null when none is). */
  threshold?: number | null;
  /** Expected quality of random routing at this point's cost (see the module notes). */
  randomQuality: number;
}

/** A single model used for every row that scores it. */
export interface SingleResult {
  quality: number;
  cost1k: number;
  /** Rows that score this model. */
  rows: number;
}

/** Everything `routecore eval` reports. */
export interface EvalReport {
  /** Rows evaluated. */
  rows: number;
  /** Records left out because they score none of the evaluated models. */
  excludedRows: number;
  /** Evaluated models, in the router's column order. */
  models: string[];
  singles: Record<string, SingleResult>;
  /** The single model with the highest quality (ties: cheaper). */
  bestSingle: string;
  /** Best model per prompt, cheapest among ties. */
  oracle: EvalPoint;
  /** The non-decreasing convex hull of the single models (what mixing single models can reach). */
  zeroRouter: { hull: { model: string; quality: number; cost1k: number }[] };
  /** Random routing at matched cost: the two end models and one point per sweep point (same order). */
  random: {
    construction: string;
    cheap: string;
    expensive: string;
    points: { cost1k: number; quality: number; p: number }[];
  };
  router: { best: EvalPoint; sweep: SweepPoint[] };
  /** AIQ over `costRange` (cost1k); null when the single models' costs do not differ. */
  aiq: { router: number | null; zeroRouter: number | null; costRange: [number, number] | null };
  /**
   * RouteLLM's benchmark–dataset similarity of the evaluated prompts: the mean over them of the
   * largest cosine similarity to the router's sketch of its training prompts (Router.coverage).
   * Absent for reports from scores alone; null for a router without a sketch.
   */
  coverage?: number | null;
  /** Two models only, else null. */
  apgr: number | null;
  cpt50: number | null;
  cpt80: number | null;
  /** Two models only: the PGR curve on the rows that score both. */
  pgr: { strong: string; weak: string; rows: number; curve: PgrPoint[] } | null;
  /** The cheapest sweep point whose quality reaches the best single model's; null when none does. */
  cheapestReachingBestSingle: (SweepPoint & { savings: number }) | null;
  /**
   * The operating point the report recommends: the cheapest point among the router's sweep and
   * the single models whose quality is within one standard error of the best of them (binomial
   * approximation √(q(1 − q)/rows) at the best quality q): a point that costs more for a quality
   * the data cannot tell apart is not worth its price. Null when nothing was evaluated.
   */
  recommended: { label: string; quality: number; cost1k: number; tolerance: number; bestQuality: number } | null;
  /**
   * Reference routers evaluated on the same rows (TF-IDF ridge and kNN trained on a training file
   * given to `routecore eval --train`, see `references.ts`); absent unless asked for.
   */
  references?: { name: string; quality: number; cost1k: number; aiq: number | null; apgr: number | null }[];
  /** Per model: how many rows' costs came from the record, the registry, the router's training mean, or nowhere (0). */
  costSources: Record<string, { record: number; registry: number; training: number; none: number }>;
  /** Cross-validation details ({@link crossValidate} only). */
  cv?: { folds: number; foldRows: number[]; predictor: string };
  /**
   * Calibration of the predicted scores against the observed ones over every evaluated (row, model)
   * pair: ECE and the reliability table (10 bins). Meaningful for routers trained on outcome scores;
   * a pairwise router's scores are strengths, not probabilities.
   */
  calibration: Reliability;
  /** Anything that weakens the numbers: costs counted as 0, models ignored, metrics undefined. */
  warnings: string[];
}

/** Options of {@link evaluateScores}, {@link evaluate} and {@link crossValidate}. */
export interface EvalOptions {
  /** Prices (and eligibility: with a registry only registered, enabled models are considered). */
  registry?: Registry;
  /** λ grid of the `cost` sweep (USD-per-query units); default {@link DEFAULT_LAMBDAS} plus the normalised grid. */
  lambdas?: number[];
  /** `targetScore` grid; default {@link DEFAULT_TARGETS}. */
  targets?: number[];
  /** Progress: {@link evaluate} reports prompts scored, {@link crossValidate} folds done. */
  onProgress?: (done: number, total: number) => void;
}

/** Options of {@link evaluateScores}. */
export interface EvalScoresOptions extends EvalOptions {
  /** Mean per-query USD the router knows for a model (its training mean); undefined when unknown. */
  expectedCost?: (id: string) => number | undefined;
  /**
   * Predicted per-query USD by prompt length (`train --auto`'s cost model): for the models listed
   * and not priced by the registry, `cost` decisions use base + perToken × ⌈prompt bytes / 4⌉
   * instead of `expectedCost`.
   */
  costModel?: Record<string, { base: number; perToken: number }>;
  /**
   * Predicted USD per query for each record and model (row-major, as `scores`; `train --auto`'s
   * cost by prompt text, {@link Router.predictedCosts}): for the models not priced by the registry,
   * `cost` decisions use these instead of `costModel` or `expectedCost`. NaN = no prediction.
   */
  predictedCosts?: Float32Array;
}

/**
 * @internal evaluateCore's options: the public ones plus per-row knowledge of the router, so
 * cross-validation folds keep their own training means.
 */
export interface CoreOptions extends EvalScoresOptions {
  /** Fold of each row, indexing `foldExpectedCost`. */
  foldOf?: Int32Array;
  foldExpectedCost?: ((id: string) => number | undefined)[];
}

function checkGrid(v: unknown, name: string, lo: number, hi: number): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) throw invalidArgument(name, 'a non-empty array of numbers', v);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !(x >= lo && x <= hi) || !Number.isFinite(x)) {
      throw invalidArgument(`${name}[${i}]`, `a finite number in [${lo}, ${hi === Infinity ? '∞' : hi}]`, x);
    }
  }
  return [...new Set(v as number[])].sort((a, b) => a - b);
}

/** @internal Validates evaluation options (shared with cross-validate.ts). */
export function checkOptions(options: unknown): EvalScoresOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const o = options as EvalScoresOptions;
  if (o.registry !== undefined && !(o.registry instanceof Registry)) throw invalidArgument('options.registry', 'a Registry', o.registry);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidArgument('options.onProgress', 'a function', o.onProgress);
  if (o.expectedCost !== undefined && typeof o.expectedCost !== 'function') {
    throw invalidArgument('options.expectedCost', 'a function (id) => number | undefined', o.expectedCost);
  }
  if (o.costModel !== undefined) {
    if (typeof o.costModel !== 'object' || o.costModel === null) throw invalidArgument('options.costModel', 'an object of model id -> { base, perToken }', o.costModel);
    for (const [id, c] of Object.entries(o.costModel)) {
      if (typeof c !== 'object' || c === null || !(c.base >= 0) || !(c.perToken >= 0) || !Number.isFinite(c.base) || !Number.isFinite(c.perToken)) {
        throw invalidArgument(`options.costModel["${id}"]`, '{ base, perToken } with finite numbers >= 0', c);
      }
    }
  }
  if (o.predictedCosts !== undefined && !(o.predictedCosts instanceof Float32Array)) {
    throw invalidArgument('options.predictedCosts', 'a Float32Array of records x models USD per query', o.predictedCosts);
  }
  checkGrid(o.lambdas, 'options.lambdas', 0, Infinity);
  checkGrid(o.targets, 'options.targets', 0, 1);
  return o;
}

/** @internal Validates outcome records for evaluation (shared with cross-validate.ts). */
export function checkRecords(records: unknown): OutcomeRecord[] {
  if (!Array.isArray(records) || records.length === 0) throw invalidArgument('records', 'a non-empty array of outcome records', records);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as OutcomeRecord;
    if (typeof r !== 'object' || r === null || typeof r.prompt !== 'string' || typeof r.scores !== 'object' || r.scores === null) {
      throw invalidArgument(`records[${i}]`, 'an outcome record with a prompt and a scores object', r);
    }
  }
  return records as OutcomeRecord[];
}

function validCost(c: unknown): c is number {
  return typeof c === 'number' && Number.isFinite(c) && c >= 0;
}

/**
 * Evaluates a router's predicted scores (the core of {@link evaluate}, usable without a trained
 * router): `scores` is row-major `records.length × modelIds.length`, column j the predicted score of
 * `modelIds[j]`. See the module notes for every convention.
 */
export function evaluateScores(
  modelIds: readonly string[],
  scores: Float32Array,
  records: OutcomeRecord[],
  options?: EvalScoresOptions,
): EvalReport {
  return evaluateCore(modelIds, scores, records, options);
}

/** @internal The evaluation itself, on a score matrix (shared with cross-validate.ts). */
export function evaluateCore(modelIds: readonly string[], scores: Float32Array, recordsIn: OutcomeRecord[], optionsIn?: CoreOptions): EvalReport {
  const options = checkOptions(optionsIn) as CoreOptions;
  const records = checkRecords(recordsIn);
  if (!Array.isArray(modelIds) || modelIds.length === 0) throw invalidArgument('modelIds', 'a non-empty array of model ids', modelIds);
  const M = modelIds.length;
  const n = records.length;
  if (!(scores instanceof Float32Array) || scores.length !== n * M) {
    throw invalidArgument('scores', `a Float32Array of ${n} records x ${M} models = ${n * M} floats`, scores);
  }
  const predicted = options.predictedCosts;
  if (predicted !== undefined && predicted.length !== n * M) {
    throw invalidArgument('options.predictedCosts', `a Float32Array of ${n} records x ${M} models = ${n * M} floats`, predicted);
  }
  const warnings: string[] = [];
  const registry = options.registry;
  const foldOf = options.foldOf;
  const foldExpected = options.foldExpectedCost;
  const expectedFor = (i: number): ((id: string) => number | undefined) | undefined =>
    foldOf && foldExpected ? foldExpected[foldOf[i]!] : options.expectedCost;

  // Which models are evaluated: the router's, present in the data, eligible under the registry.
  const probe = buildCandidates(modelIds, registry, () => undefined, 0);
  const inData = new Set(modelIdsOf(records));
  const evalCols: number[] = [];
  for (let j = 0; j < M; j++) {
    const id = modelIds[j]!;
    if (!inData.has(id)) warnings.push(`model "${id}" of the router has no score in the data; it is not evaluated`);
    else if (probe.eligible[j] === 0) warnings.push(`model "${id}" is not registered and enabled in the registry; it is not evaluated`);
    else evalCols.push(j);
  }
  const known = new Set(modelIds);
  const unknown = [...inData].filter((id) => !known.has(id));
  if (unknown.length) warnings.push(`the data scores models the router does not know, ignored: ${unknown.join(', ')}`);
  if (evalCols.length === 0) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `none of the router's models (${modelIds.join(', ')}) is scored by the data and eligible`);
  }
  const models = evalCols.map((j) => modelIds[j]!);
  const isEval = new Uint8Array(M);
  for (const j of evalCols) isEval[j] = 1;

  // Per-row truth: scores (NaN = missing) and accounted costs, over all M columns.
  const truth = new Float64Array(n * M).fill(NaN);
  const cost = new Float64Array(n * M).fill(NaN);
  const promptTokens = new Float64Array(n);
  const sources: EvalReport['costSources'] = {};
  for (const id of models) sources[id] = { record: 0, registry: 0, training: 0, none: 0 };
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    promptTokens[i] = estimateTokens(Buffer.byteLength(r.prompt, 'utf8'));
    let any = false;
    for (const j of evalCols) {
      const id = modelIds[j]!;
      const s = Object.hasOwn(r.scores, id) ? r.scores[id] : undefined;
      if (typeof s !== 'number' || !(s >= 0 && s <= 1)) continue;
      any = true;
      truth[i * M + j] = s;
      const src = sources[id]!;
      const rc = r.costs && Object.hasOwn(r.costs, id) ? r.costs[id] : undefined;
      const fromRegistry = validCost(rc) ? undefined : registry?.expectedCost(id, promptTokens[i]!);
      let c: number;
      if (validCost(rc)) {
        c = rc;
        src.record++;
      } else if (fromRegistry !== undefined) {
        c = fromRegistry;
        src.registry++;
      } else {
        const t = expectedFor(i)?.(id);
        if (validCost(t)) {
          c = t;
          src.training++;
        } else {
          c = 0;
          src.none++;
        }
      }
      cost[i * M + j] = c;
    }
    if (any) keep.push(i);
  }
  const rows = keep.length;
  if (rows === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `no record scores any of the evaluated models (${models.join(', ')})`);
  for (const id of models) {
    const s = sources[id]!;
    if (s.none > 0) warnings.push(`no cost known for model "${id}" on ${s.none} of ${s.none + s.record + s.registry + s.training} rows (no record cost, registry price or training mean); counted as $0`);
  }

  // Single models.
  const singles: Record<string, SingleResult> = {};
  const partial: string[] = [];
  for (const j of evalCols) {
    let q = 0, c = 0, k = 0;
    for (const i of keep) {
      const s = truth[i * M + j]!;
      if (Number.isNaN(s)) continue;
      q += s;
      c += cost[i * M + j]!;
      k++;
    }
    const id = modelIds[j]!;
    if (k < rows) partial.push(`${id} ${k}`);
    singles[id] = { quality: k ? q / k : 0, cost1k: k ? (1000 * c) / k : 0, rows: k };
  }
  if (partial.length) {
    warnings.push(`some rows lack some models' scores; single baselines use the rows scoring the model (of ${rows}: ${partial.join(', ')}) and routing on a row considers only the models it scores`);
  }
  let bestSingle = models[0]!;
  for (const id of models) {
    const a = singles[id]!, b = singles[bestSingle]!;
    if (a.quality > b.quality + QUALITY_EPSILON || (Math.abs(a.quality - b.quality) <= QUALITY_EPSILON && a.cost1k < b.cost1k)) bestSingle = id;
  }

  // Oracle: best truth per row, cheapest among ties, then column order.
  const pick = new Int32Array(n).fill(-1);
  for (const i of keep) {
    let best = -1;
    for (const j of evalCols) {
      const s = truth[i * M + j]!;
      if (Number.isNaN(s)) continue;
      if (best < 0) { best = j; continue; }
      const d = s - truth[i * M + best]!;
      if (d > QUALITY_EPSILON || (d >= -QUALITY_EPSILON && cost[i * M + j]! < cost[i * M + best]!)) best = j;
    }
    pick[i] = best;
  }
  const oracle = pointOf(pick);

  function pointOf(choice: Int32Array): EvalPoint {
    let q = 0, c = 0;
    const counts = new Float64Array(M);
    for (const i of keep) {
      const j = choice[i]!;
      q += truth[i * M + j]!;
      c += cost[i * M + j]!;
      counts[j]!++;
    }
    const shares: Record<string, number> = {};
    for (const j of evalCols) if (counts[j]! > 0) shares[modelIds[j]!] = counts[j]! / rows;
    return { quality: q / rows, cost1k: (1000 * c) / rows, shares };
  }

  // Decision tables: what the router knows about costs before the call. Without a router's
  // training mean, the mean accounted cost over the evaluation rows stands in.
  const evalMean = new Map<string, number>();
  for (const id of models) {
    const s = sources[id]!;
    if (s.record + s.registry + s.training > 0) evalMean.set(id, singles[id]!.cost1k / 1000);
  }
  const tableCache = new Map<((id: string) => number | undefined) | undefined, CandidateTable>();
  const tableFor = (i: number): CandidateTable => {
    const f = expectedFor(i);
    let t = tableCache.get(f);
    if (!t) {
      t = buildCandidates(modelIds, registry, (id) => {
        const v = f?.(id);
        return validCost(v) ? v : evalMean.get(id);
      }, 0);
      const cm = options.costModel;
      if (cm) {
        for (let j = 0; j < M; j++) {
          const id = modelIds[j]!;
          const c = Object.hasOwn(cm, id) ? cm[id] : undefined;
          if (!c || registry?.prices(id)) continue;
          t.fixedCost[j] = c.base;
          t.inputCostPerToken[j] = c.perToken;
          t.cost[j] = c.base;
        }
      }
      tableCache.set(f, t);
    }
    return t;
  };

  let unroutable = 0;
  const ranked: number[] = [];
  // Predicted costs stand in only where the registry has no price (as in the Router): NaN elsewhere.
  let rowCosts: Float32Array | undefined;
  if (predicted) {
    rowCosts = new Float32Array(predicted);
    for (let j = 0; j < M; j++) if (registry?.prices(modelIds[j]!)) for (let i = 0; i < n; i++) rowCosts[i * M + j] = NaN;
  }
  const decide = (policy: 'best' | 'cost', knobs: { lambda?: number; targetScore?: number }): Int32Array => {
    const choice = new Int32Array(n).fill(-1);
    // One options object per sweep point, repriced per row: an object per row nearly doubled the
    // time of a sweep (477 → 260 ms for 2,225 rows × 11 models × 62 points, measured).
    const costOpts = { ...knobs, promptTokens: 0 };
    for (const i of keep) {
      const table = tableFor(i);
      costOpts.promptTokens = promptTokens[i]!;
      const count = policy === 'best'
        ? rankBest(scores, i * M, table, ranked)
        : rankCost(scores, i * M, table, costOpts, ranked, rowCosts);
      let chosen = -1;
      for (let k = 0; k < count; k++) {
        const j = ranked[k]!;
        if (isEval[j] && !Number.isNaN(truth[i * M + j])) { chosen = j; break; }
      }
      if (chosen < 0) {
        // The cost policy's hard filters (context window) left no model this row scores: fall back
        // to the best-score order, as a caller would on ERR_ROUTECORE_NO_ELIGIBLE_MODEL.
        unroutable++;
        const c2 = rankBest(scores, i * M, table, ranked);
        for (let k = 0; k < c2 && chosen < 0; k++) {
          const j = ranked[k]!;
          if (isEval[j] && !Number.isNaN(truth[i * M + j])) chosen = j;
        }
      }
      choice[i] = chosen;
    }
    return choice;
  };

  // Cost spread of the single models, for the normalised λ grid.
  let cLo = Infinity, cHi = -Infinity;
  for (const id of models) {
    cLo = Math.min(cLo, singles[id]!.cost1k);
    cHi = Math.max(cHi, singles[id]!.cost1k);
  }
  const spread = (cHi - cLo) / 1000;
  let lambdas = checkGrid(options.lambdas, 'options.lambdas', 0, Infinity);
  if (lambdas === undefined) {
    const grid = [...DEFAULT_LAMBDAS];
    if (spread > 0) for (const s of DEFAULT_NORMALIZED_LAMBDAS) grid.push(s / spread);
    grid.sort((a, b) => a - b);
    lambdas = grid.filter((x, k) => k === 0 || x > grid[k - 1]! * (1 + 1e-9));
  }
  const targets = checkGrid(options.targets, 'options.targets', 0, 1) ?? [...DEFAULT_TARGETS];

  const best: SweepPoint = { policy: 'best', param: null, knob: null, ...pointOf(decide('best', {})), randomQuality: 0 };
  const sweep: SweepPoint[] = [best];
  for (const lambda of lambdas) {
    sweep.push({ policy: 'cost', param: 'lambda', knob: lambda, lambdaNorm: lambda * spread, ...pointOf(decide('cost', { lambda })), randomQuality: 0 });
  }
  for (const targetScore of targets) {
    sweep.push({ policy: 'cost', param: 'targetScore', knob: targetScore, ...pointOf(decide('cost', { targetScore })), randomQuality: 0 });
  }
  if (unroutable > 0) warnings.push(`${unroutable} decisions found no model passing the cost policy's filters among the row's models; they fell back to the best predicted score`);

  // Two models: PGR, APGR, CPT; and the threshold sweep when every row scores both.
  let pgr: EvalReport['pgr'] = null;
  let apgrValue: number | null = null, cpt50: number | null = null, cpt80: number | null = null;
  if (evalCols.length === 2) {
    const [ja, jb] = evalCols as [number, number];
    const both = keep.filter((i) => !Number.isNaN(truth[i * M + ja]) && !Number.isNaN(truth[i * M + jb]));
    if (both.length === 0) {
      warnings.push('no row scores both models: PGR, APGR and CPT are undefined');
    } else {
      let ma = 0, mb = 0;
      for (const i of both) { ma += truth[i * M + ja]!; mb += truth[i * M + jb]!; }
      const [js, jw] = ma >= mb ? [ja, jb] : [jb, ja];
      const strong = both.map((i) => truth[i * M + js]!);
      const weak = both.map((i) => truth[i * M + jw]!);
      const routeScore = both.map((i) => {
        const d = scores[i * M + js]! - scores[i * M + jw]!;
        return Number.isFinite(d) ? d : 0;
      });
      try {
        const curve = pgrCurve(strong, weak, routeScore, 100);
        pgr = { strong: modelIds[js]!, weak: modelIds[jw]!, rows: both.length, curve };
        apgrValue = apgr(curve);
        cpt50 = cpt(curve, 0.5);
        cpt80 = cpt(curve, 0.8);
        if (both.length === rows) {
          // Same order as pgrCurve: routing score descending, ties by lower index.
          const order = both.map((_, k) => k).sort((a, b) => routeScore[b]! - routeScore[a]! || a - b);
          for (let t = 0; t <= 100; t += 10) {
            const k = Math.round((t * both.length) / 100);
            const choice = new Int32Array(n).fill(-1);
            for (const i of both) choice[i] = jw;
            for (let r = 0; r < k; r++) choice[both[order[r]!]!] = js;
            sweep.push({
              policy: 'threshold',
              param: 'strongShare',
              knob: k / both.length,
              threshold: k > 0 ? routeScore[order[k - 1]!]! : null,
              ...pointOf(choice),
              randomQuality: 0,
            });
          }
        } else {
          warnings.push(`only ${both.length} of ${rows} rows score both models: the PGR curve uses those rows and the threshold sweep is left out`);
        }
      } catch (err) {
        if (!(err instanceof RoutecoreError) || err.code !== 'ERR_ROUTECORE_BAD_DATA') throw err;
        warnings.push(err.message);
      }
    }
  }

  // Random routing at matched cost.
  const byCost = [...models].sort((a, b) => singles[a]!.cost1k - singles[b]!.cost1k || singles[a]!.quality - singles[b]!.quality);
  let cheap = byCost[0]!, expensive = byCost[byCost.length - 1]!;
  const costFree = !(cHi > cLo);
  if (costFree) {
    const byQ = [...models].sort((a, b) => singles[a]!.quality - singles[b]!.quality);
    cheap = byQ[0]!;
    expensive = byQ[byQ.length - 1]!;
  } else {
    // Among equally expensive models, the most expensive end is the better one.
    const top = models.filter((id) => singles[id]!.cost1k === cHi).sort((a, b) => singles[b]!.quality - singles[a]!.quality);
    expensive = top[0]!;
  }
  const L = singles[cheap]!, H = singles[expensive]!;
  const randomPoints = sweep.map((pt) => {
    const p = costFree ? (pt.shares[expensive] ?? 0) : Math.min(1, Math.max(0, (pt.cost1k - L.cost1k) / (H.cost1k - L.cost1k)));
    const quality = (1 - p) * L.quality + p * H.quality;
    pt.randomQuality = quality;
    return { cost1k: (1 - p) * L.cost1k + p * H.cost1k, quality, p };
  });
  const random: EvalReport['random'] = {
    construction: costFree
      ? `no cost differences: per prompt, "${expensive}" (highest quality) with probability p = the point's share of calls to it, else "${cheap}" (lowest quality)`
      : `per prompt, the most expensive model "${expensive}" with probability p, else the cheapest "${cheap}", p = (cost - cost_cheap) / (cost_expensive - cost_cheap) clamped to [0, 1]`,
    cheap,
    expensive,
    points: randomPoints,
  };

  // Zero-router hull and AIQ.
  const singlePts = models.map((id) => ({ cost: singles[id]!.cost1k, quality: singles[id]!.quality }));
  const hull = convexHull(singlePts).map((h) => {
    const id = models.find((m) => singles[m]!.cost1k === h.cost && singles[m]!.quality === h.quality)!;
    return { model: id, quality: h.quality, cost1k: h.cost };
  });
  let aiqOut: EvalReport['aiq'] = { router: null, zeroRouter: null, costRange: null };
  if (!costFree) {
    const range: [number, number] = [cLo, cHi];
    aiqOut = {
      router: aiq(sweep.map((p) => ({ cost: p.cost1k, quality: p.quality })), range),
      zeroRouter: aiq(singlePts, range),
      costRange: range,
    };
  } else {
    warnings.push('every single model has the same cost: AIQ is undefined (null) and the λ sweep cannot trade cost');
  }

  // The cheapest sweep point reaching the best single model's quality.
  const target = singles[bestSingle]!.quality - QUALITY_EPSILON;
  let cheapest: SweepPoint | null = null;
  for (const p of sweep) if (p.quality >= target && (cheapest === null || p.cost1k < cheapest.cost1k)) cheapest = p;
  const bestCost = singles[bestSingle]!.cost1k;

  // Calibration over every evaluated pair with a known outcome.
  const calPred: number[] = [], calObs: number[] = [];
  for (const i of keep) {
    for (const j of evalCols) {
      const y = truth[i * M + j]!;
      if (Number.isNaN(y)) continue;
      calPred.push(scores[i * M + j]!);
      calObs.push(y);
    }
  }
  const calibration = reliability(calPred, calObs, 10);

  return {
    rows,
    excludedRows: n - rows,
    models,
    singles,
    bestSingle,
    oracle,
    zeroRouter: { hull },
    random,
    router: { best: { quality: best.quality, cost1k: best.cost1k, shares: best.shares }, sweep },
    aiq: aiqOut,
    apgr: apgrValue,
    cpt50,
    cpt80,
    pgr,
    cheapestReachingBestSingle: cheapest ? { ...cheapest, savings: bestCost > 0 ? 1 - cheapest.cost1k / bestCost : 0 } : null,
    recommended: recommend(sweep, singles, rows),
    costSources: sources,
    calibration,
    warnings,
  };
}

/**
 * Replays `records` through `router` (scores every prompt, then applies each policy of the sweep)
 * and reports quality, cost and baselines. See the module notes for the conventions.
 */
export async function evaluate(router: RouterCore, records: OutcomeRecord[], options?: EvalOptions): Promise<EvalReport> {
  const o = checkOptions(options);
  const recs = checkRecords(records);
  if (typeof router !== 'object' || router === null || typeof (router as RouterCore).scores !== 'function') {
    throw invalidArgument('router', 'a Router', router);
  }
  const ids = router.models;
  const M = ids.length;
  const scores = new Float32Array(recs.length * M);
  for (let start = 0; start < recs.length; start += SCORE_CHUNK) {
    const end = Math.min(recs.length, start + SCORE_CHUNK);
    const part = await router.scores(recs.slice(start, end).map((r) => r.prompt));
    scores.set(part, start * M);
    o.onProgress?.(end, recs.length);
  }
  const training = router.training;
  const cm = router.postprocess?.cost;
  let predictedCosts: Float32Array | undefined;
  if (router.postprocess?.costNetwork) {
    predictedCosts = new Float32Array(recs.length * M);
    for (let start = 0; start < recs.length; start += SCORE_CHUNK) {
      const end = Math.min(recs.length, start + SCORE_CHUNK);
      predictedCosts.set((await router.predictedCosts(recs.slice(start, end).map((r) => r.prompt)))!, start * M);
    }
  }
  const report = evaluateCore(ids, scores, recs, {
    ...o,
    expectedCost: (id) => training?.models[id]?.meanCost ?? undefined,
    ...(cm ? { costModel: Object.fromEntries(ids.map((id, j) => [id, { base: cm.base[j]!, perToken: cm.perToken[j]! }])) } : {}),
    ...(predictedCosts ? { predictedCosts } : {}),
  });
  report.coverage = coverageOfRecords(router, recs);
  return report;
}

/** Mean coverage of the records' prompts, or null when the router keeps no training sketch. */
function coverageOfRecords(router: RouterCore, recs: readonly OutcomeRecord[]): number | null {
  if (typeof router.coverage !== 'function' || recs.length === 0) return null;
  let sum = 0;
  for (let start = 0; start < recs.length; start += SCORE_CHUNK) {
    const part = recs.slice(start, start + SCORE_CHUNK).map((r) => r.prompt);
    try {
      sum += router.coverage(part).mean * part.length;
    } catch (err) {
      // No sketch (a precomputed router, a file from before sketches): no figure, not a failure.
      if (isRoutecoreError(err) && (err.code === 'ERR_ROUTECORE_INVALID_ARGUMENT' || err.code === 'ERR_ROUTECORE_ADDON_UNAVAILABLE')) return null;
      throw err;
    }
  }
  return sum / recs.length;
}

/** See {@link EvalReport.recommended}. */
function recommend(sweep: readonly SweepPoint[], singles: Record<string, SingleResult>, rows: number): EvalReport['recommended'] {
  // Singles first: a sweep point that routes exactly like a single model is named as that model.
  const points: { label: string; quality: number; cost1k: number }[] = [
    ...Object.entries(singles).map(([id, x]) => ({ label: `always ${id}`, quality: x.quality, cost1k: x.cost1k })),
    ...sweep.map((p) => ({ label: p.policy === 'best' ? 'router, policy best' : `router, policy ${p.policy} ${knobText(p)}`, quality: p.quality, cost1k: p.cost1k })),
  ].filter((p) => Number.isFinite(p.quality) && Number.isFinite(p.cost1k));
  if (points.length === 0 || rows === 0) return null;
  const bestQuality = Math.max(...points.map((p) => p.quality));
  const q = Math.min(1, Math.max(0, bestQuality));
  const tolerance = Math.sqrt((q * (1 - q)) / rows);
  // Cheapest first; among equal costs the higher quality (a stable sort keeps singles first).
  const ok = points.filter((p) => p.quality >= bestQuality - tolerance - QUALITY_EPSILON);
  ok.sort((a, b) => a.cost1k - b.cost1k || b.quality - a.quality);
  const pick = ok[0]!;
  return { ...pick, tolerance, bestQuality };
}

/** "12% cheaper", "8% dearer" or "the same cost", for a point against a reference cost. */
function costChange(savings: number): string {
  if (Math.abs(savings) < 0.005) return 'the same cost';
  return savings > 0 ? `${(savings * 100).toFixed(0)}% cheaper` : `${(-savings * 100).toFixed(0)}% dearer`;
}

function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

function money(x: number): string {
  if (x === 0) return '$0';
  if (x >= 100) return `$${x.toFixed(0)}`;
  if (x >= 1) return `$${x.toFixed(2)}`;
  return `$${x.toPrecision(2)}`;
}

function sharesText(shares: Record<string, number>, limit = 3): string {
  const top = Object.entries(shares).sort((a, b) => b[1] - a[1]);
  const shown = top.slice(0, limit).map(([id, s]) => `${id} ${(s * 100).toFixed(0)}%`);
  if (top.length > limit) shown.push(`+${top.length - limit} more`);
  return shown.join(', ');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function knobText(p: SweepPoint): string {
  if (p.param === null) return '—';
  if (p.param === 'lambda') return `λ=${+p.knob!.toPrecision(4)}${p.lambdaNorm !== undefined ? ` (norm ${+p.lambdaNorm.toPrecision(3)})` : ''}`;
  if (p.param === 'targetScore') return `target=${p.knob}`;
  return `strong share=${fmt(p.knob, 2)}`;
}

/** The report as Markdown: summary, baselines table and sweep table. */
export function renderMarkdown(report: EvalReport): string {
  const out: string[] = [];
  out.push('# routecore evaluation', '');
  out.push(`${report.rows} rows${report.excludedRows ? ` (${report.excludedRows} excluded: no evaluated model scored)` : ''}, ${report.models.length} models${report.cv ? `, ${report.cv.folds}-fold cross-validation (${report.cv.predictor})` : ''}.`, '');
  const bs = report.singles[report.bestSingle]!;
  const rec = report.recommended;
  if (rec) {
    const vsBest = report.router.best.cost1k > 0 && rec.cost1k < report.router.best.cost1k ? ` — ${(report.router.best.cost1k / Math.max(rec.cost1k, 1e-12)).toFixed(1)}× cheaper than the router's \`best\` (${money(report.router.best.cost1k)})` : '';
    out.push(`**Recommended operating point: ${rec.label}**, quality ${fmt(rec.quality)} at ${money(rec.cost1k)} per 1k queries${vsBest} (the cheapest point within one standard error, ${fmt(rec.tolerance)}, of the best quality here, ${fmt(rec.bestQuality)}).`, '');
  }
  out.push(`- Best single model: **${report.bestSingle}** quality ${fmt(bs.quality)} at ${money(bs.cost1k)} per 1k queries`);
  out.push(`- Router (\`best\`): quality ${fmt(report.router.best.quality)} at ${money(report.router.best.cost1k)} per 1k`);
  out.push(`- Oracle: quality ${fmt(report.oracle.quality)} at ${money(report.oracle.cost1k)} per 1k`);
  if (report.aiq.costRange) {
    out.push(`- AIQ over ${money(report.aiq.costRange[0])}–${money(report.aiq.costRange[1])} per 1k: router ${fmt(report.aiq.router)}, zero-router ${fmt(report.aiq.zeroRouter)}`);
  }
  if (report.pgr) {
    out.push(`- Strong/weak: ${report.pgr.strong} / ${report.pgr.weak}; APGR ${fmt(report.apgr)}, CPT(50%) ${fmt(report.cpt50)}, CPT(80%) ${fmt(report.cpt80)}`);
  }
  if (report.coverage !== undefined && report.coverage !== null) {
    out.push(`- Coverage (RouteLLM's benchmark–dataset similarity): ${fmt(report.coverage)}, the mean over these prompts of the largest cosine similarity to the router's training prompts`);
  }
  if (report.calibration && Number.isFinite(report.calibration.ece)) {
    out.push(`- Calibration: ECE ${fmt(report.calibration.ece)} over ${report.calibration.pairs} (prompt, model) pairs (0 = a predicted p comes true a share p of the time)`);
  }
  const c = report.cheapestReachingBestSingle;
  out.push(c
    ? `- Cheapest sweep point reaching the best single model: ${c.policy} ${knobText(c)}, quality ${fmt(c.quality)} at ${money(c.cost1k)} per 1k (${costChange(c.savings)} than ${report.bestSingle})`
    : '- No sweep point reaches the best single model\'s quality');
  for (const r of report.references ?? []) {
    out.push(`- Reference ${r.name} (same rows): quality ${fmt(r.quality)} at ${money(r.cost1k)} per 1k${r.aiq !== null ? `, AIQ ${fmt(r.aiq)}` : ''}${r.apgr !== null ? `, APGR ${fmt(r.apgr)}` : ''}`);
  }
  out.push('', '## Baselines', '', '| baseline | quality | $ per 1k queries | rows | calls |', '| --- | ---: | ---: | ---: | --- |');
  for (const id of report.models) {
    const s = report.singles[id]!;
    out.push(`| ${cell(id)} | ${fmt(s.quality)} | ${money(s.cost1k)} | ${s.rows} | single |`);
  }
  out.push(`| oracle | ${fmt(report.oracle.quality)} | ${money(report.oracle.cost1k)} | ${report.rows} | ${cell(sharesText(report.oracle.shares))} |`);
  out.push(`| zero-router hull | — | — | — | ${cell(report.zeroRouter.hull.map((h) => h.model).join(' → '))} |`);
  out.push('', `Random at matched cost: ${report.random.construction}.`);
  out.push('', '## Router sweep', '', '| policy | knob | quality | $ per 1k queries | random at matched cost | calls |', '| --- | --- | ---: | ---: | ---: | --- |');
  for (const p of report.router.sweep) {
    out.push(`| ${p.policy} | ${cell(knobText(p))} | ${fmt(p.quality)} | ${money(p.cost1k)} | ${fmt(p.randomQuality)} | ${cell(sharesText(p.shares))} |`);
  }
  if (report.warnings.length) {
    out.push('', '## Warnings', '');
    for (const w of report.warnings) out.push(`- ${w}`);
  }
  return out.join('\n') + '\n';
}

