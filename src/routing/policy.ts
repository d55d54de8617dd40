/**
 * The `best` and `cost` policies (docs/ARCHITECTURE.md, "The pipeline": Policy). Everything that does not change per prompt
 * (registry prices, limits, capabilities, eligibility) is resolved once into a {@link CandidateTable};
 * the rank functions then run per routed prompt as a tight loop over typed arrays, allocating nothing
 * beyond the `ranked` array the caller passes in (and reuses).
 */
import { RoutecoreError, didYouMean, invalidArgument } from '../errors.js';
import { DEFAULT_EXPECTED_OUTPUT_TOKENS, Registry } from './registry.js';

/** The policies this version implements: `best` and `cost` here, `threshold` and `subset` in selection.ts. */
export type PolicyName = 'best' | 'cost' | 'threshold' | 'subset';

/** Every {@link PolicyName}, in the order messages list them; the one list routecore checks names against. */
export const POLICIES: readonly PolicyName[] = Object.freeze(['best', 'cost', 'threshold', 'subset']);

/** The policies as an error message lists them: `"best", "cost", "threshold" or "subset"`. */
export const POLICY_CHOICES = `${POLICIES.slice(0, -1).map((p) => `"${p}"`).join(', ')} or "${POLICIES[POLICIES.length - 1]}"`;

/** Predicted scores closer than this count as a tie, broken by cost and then by id. */
export const SCORE_TIE_EPSILON = 1e-6;

/**
 * Per-model facts the policies need, index-aligned with the router's model order (column i of the
 * score matrix is model `ids[i]`). Build it with {@link buildCandidates}; treat it as read-only.
 */
export interface CandidateTable {
  /** Model ids in the router's column order. */
  ids: readonly string[];
  /** Expected USD per query at {@link CandidateTable.promptTokens}; NaN = unknown. Equals `fixedCost + promptTokens × inputCostPerToken`. */
  cost: Float64Array;
  /** USD that does not depend on prompt length (expected output, or a per-query cost from data); NaN = unknown. */
  fixedCost: Float64Array;
  /** USD per prompt token (0 when the cost came from a per-query fallback). */
  inputCostPerToken: Float64Array;
  /** Expected generated tokens per query, for the context-window filter. */
  outputTokens: Float64Array;
  /** Typical latency in ms; NaN = unknown. */
  latencyMs: Float64Array;
  /** Maximum prompt + output tokens; Infinity = unknown (never filters). */
  contextWindow: Float64Array;
  /** Capability tags per model ([] when unknown). */
  capabilities: readonly (readonly string[])[];
  /** 1 = may be routed to; 0 = not in the registry or disabled. */
  eligible: Uint8Array;
  /** The prompt length `cost` was computed for. */
  promptTokens: number;
}

/**
 * Knobs of the `cost` policy. Costs are in **USD per query** (not per token, not per 1k queries):
 * with typical per-query costs of $0.001–$0.03, useful `lambda` values are roughly 1–100
 * (λ = 10 trades 0.01 of expected score for $0.001 per query).
 */
export interface CostOptions {
  /** Maximise `score − lambda × cost(USD per query)`; default 0 (pure quality). Also orders the fallbacks under `targetScore`. */
  lambda?: number;
  /** Pick the cheapest model whose predicted score reaches this value in [0,1]; the rest follow as fallbacks. */
  targetScore?: number;
  /** Hard cap in USD per query; models with unknown cost are excluded when set. */
  maxCost?: number;
  /** Hard cap on typical latency in ms; models with unknown latency are excluded when set. */
  maxLatencyMs?: number;
  /** Capability tags every chosen model must have, e.g. `['tools']`. */
  require?: readonly string[];
  /** Prompt length in tokens: enables the context-window filter and prices the prompt at this length. */
  promptTokens?: number;
}

const COST_OPTION_KEYS: readonly string[] = ['lambda', 'targetScore', 'maxCost', 'maxLatencyMs', 'require', 'promptTokens'];

/**
 * Builds the candidate table for a router's models against a registry.
 * With a registry, only models it lists as enabled are eligible; without one every model is.
 * A model's cost is the registry price at `promptTokens` when it has one, else `fallbackCost(id)`
 * (e.g. the mean per-query cost in the training data), else unknown (NaN).
 * @param modelIds the router's model ids, in score-column order; non-empty, unique
 * @param registry the deployment's registry, or undefined
 * @param fallbackCost per-query USD for models the registry does not price; return undefined when unknown
 * @param promptTokens prompt length the stored `cost` column is computed for
 */
export function buildCandidates(
  modelIds: readonly string[],
  registry: Registry | undefined,
  fallbackCost: (id: string) => number | undefined,
  promptTokens: number,
): CandidateTable {
  if (!Array.isArray(modelIds) || modelIds.length === 0) {
    throw invalidArgument('modelIds', 'a non-empty array of model id strings', modelIds);
  }
  const seen = new Set<string>();
  for (let i = 0; i < modelIds.length; i++) {
    const id: unknown = modelIds[i];
    if (typeof id !== 'string' || id === '') throw invalidArgument(`modelIds[${i}]`, 'a non-empty model id string', id);
    if (seen.has(id)) throw invalidArgument(`modelIds[${i}]`, `a model id not already listed`, id);
    seen.add(id);
  }
  if (registry !== undefined && !(registry instanceof Registry)) {
    throw invalidArgument('registry', 'a Registry or undefined', registry);
  }
  if (typeof fallbackCost !== 'function') throw invalidArgument('fallbackCost', 'a function (id) => number | undefined', fallbackCost);
  if (typeof promptTokens !== 'number' || !Number.isFinite(promptTokens) || promptTokens < 0) {
    throw invalidArgument('promptTokens', 'a finite number >= 0', promptTokens);
  }

  const m = modelIds.length;
  const t: CandidateTable = {
    ids: Object.freeze(modelIds.slice()),
    cost: new Float64Array(m),
    fixedCost: new Float64Array(m),
    inputCostPerToken: new Float64Array(m),
    outputTokens: new Float64Array(m),
    latencyMs: new Float64Array(m),
    contextWindow: new Float64Array(m),
    capabilities: [],
    eligible: new Uint8Array(m),
    promptTokens,
  };
  const caps: (readonly string[])[] = [];
  for (let i = 0; i < m; i++) {
    const id = modelIds[i]!;
    const e = registry?.get(id);
    t.eligible[i] = registry === undefined || e?.enabled === true ? 1 : 0;
    const out = e?.expectedOutputTokens ?? DEFAULT_EXPECTED_OUTPUT_TOKENS;
    t.outputTokens[i] = out;
    if (e?.inputCostPer1M !== undefined && e.outputCostPer1M !== undefined) {
      t.inputCostPerToken[i] = e.inputCostPer1M / 1e6;
      t.fixedCost[i] = (out * e.outputCostPer1M) / 1e6;
    } else {
      const fb: unknown = fallbackCost(id);
      if (fb !== undefined && (typeof fb !== 'number' || !Number.isFinite(fb) || fb < 0)) {
        throw invalidArgument(`fallbackCost("${id}")`, 'a finite number >= 0 (USD per query) or undefined', fb);
      }
      t.inputCostPerToken[i] = 0;
      t.fixedCost[i] = fb === undefined ? NaN : (fb as number);
    }
    t.cost[i] = t.fixedCost[i]! + promptTokens * t.inputCostPerToken[i]!;
    t.latencyMs[i] = e?.latencyMs ?? NaN;
    t.contextWindow[i] = e?.contextWindow ?? Infinity;
    caps.push(e?.capabilities ?? Object.freeze([]));
  }
  t.capabilities = Object.freeze(caps);
  return t;
}

/**
 * Expected USD per query of model `index`, repriced for `promptTokens` when given — the same number
 * {@link rankCost} uses, so a decision can report the cost it optimised. NaN when unknown.
 */
export function costOf(table: CandidateTable, index: number, promptTokens?: number): number {
  if (typeof table !== 'object' || table === null || !(table.cost instanceof Float64Array) || !Array.isArray(table.ids)) {
    throw invalidArgument('table', 'a CandidateTable from buildCandidates()', table);
  }
  if (!Number.isInteger(index) || index < 0 || index >= table.ids.length) {
    throw invalidArgument('index', `an integer in [0, ${table.ids.length - 1}]`, index);
  }
  if (promptTokens === undefined) return table.cost[index]!;
  if (typeof promptTokens !== 'number' || !Number.isFinite(promptTokens) || promptTokens < 0) {
    throw invalidArgument('promptTokens', 'a finite number >= 0', promptTokens);
  }
  return table.fixedCost[index]! + promptTokens * table.inputCostPerToken[index]!;
}

// Per-model sort keys live in module-level scratch arrays, grown only when a table has more models
// than any before, so ranking allocates nothing per call. The rank functions never call out to user
// code while these are live, so re-entrancy cannot corrupt them.
let scoreBuf = new Float64Array(32);
let keyBuf = new Float64Array(32);
let costBuf = new Float64Array(32);
let groupBuf = new Uint8Array(32);

function ensureScratch(m: number): void {
  if (scoreBuf.length >= m) return;
  const size = Math.max(m, scoreBuf.length * 2);
  scoreBuf = new Float64Array(size);
  keyBuf = new Float64Array(size);
  costBuf = new Float64Array(size);
  groupBuf = new Uint8Array(size);
}

/**
 * Whether candidate a ranks before b by key (score, or score − λ·cost) descending, ties within
 * 1e-6 to the cheaper one, then by id. Keys are in the scratch arrays.
 */
function beforeByKey(a: number, b: number, ids: readonly string[]): boolean {
  const d = keyBuf[a]! - keyBuf[b]!;
  if (d > SCORE_TIE_EPSILON) return true;
  if (d < -SCORE_TIE_EPSILON) return false;
  const ca = costBuf[a]!;
  const cb = costBuf[b]!;
  if (ca !== cb) return ca < cb;
  return ids[a]! < ids[b]!;
}

/** `targetScore` order: models reaching the target (group 0) by cost, then the fallbacks by key. */
function beforeByTarget(a: number, b: number, ids: readonly string[]): boolean {
  const ga = groupBuf[a]!;
  const gb = groupBuf[b]!;
  if (ga !== gb) return ga < gb;
  if (ga !== 0) return beforeByKey(a, b, ids);
  // Among models reaching the target the cheapest wins; quality only breaks exact price ties.
  const ca = costBuf[a]!;
  const cb = costBuf[b]!;
  if (ca !== cb) return ca < cb;
  const d = scoreBuf[a]! - scoreBuf[b]!;
  if (d > SCORE_TIE_EPSILON) return true;
  if (d < -SCORE_TIE_EPSILON) return false;
  return ids[a]! < ids[b]!;
}

// Insertion sorts of ranked[0..n): M is a handful of models, and they need no comparator closure.
// One copy per order keeps each comparison call monomorphic and inlinable.
function sortByKey(ranked: number[], n: number, ids: readonly string[]): void {
  for (let k = 1; k < n; k++) {
    const x = ranked[k]!;
    let j = k - 1;
    while (j >= 0 && beforeByKey(x, ranked[j]!, ids)) {
      ranked[j + 1] = ranked[j]!;
      j--;
    }
    ranked[j + 1] = x;
  }
}

function sortByTarget(ranked: number[], n: number, ids: readonly string[]): void {
  for (let k = 1; k < n; k++) {
    const x = ranked[k]!;
    let j = k - 1;
    while (j >= 0 && beforeByTarget(x, ranked[j]!, ids)) {
      ranked[j + 1] = ranked[j]!;
      j--;
    }
    ranked[j + 1] = x;
  }
}

function checkRankArgs(scores: Float32Array, offset: number, table: CandidateTable, ranked: number[]): number {
  if (!(scores instanceof Float32Array)) throw invalidArgument('scores', 'a Float32Array', scores);
  if (typeof table !== 'object' || table === null || !Array.isArray(table.ids) || !(table.eligible instanceof Uint8Array)) {
    throw invalidArgument('table', 'a CandidateTable from buildCandidates()', table);
  }
  const m = table.ids.length;
  if (table.eligible.length !== m || table.cost.length !== m || table.capabilities.length !== m) {
    throw invalidArgument('table', `a CandidateTable whose columns all have ${m} entries`, table);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset + m > scores.length) {
    throw invalidArgument('offset', `an integer >= 0 with offset + ${m} <= scores.length (${scores.length})`, offset);
  }
  if (!Array.isArray(ranked)) throw invalidArgument('ranked', 'an array to fill', ranked);
  return m;
}

/** A NaN prediction is a bug upstream; ranking it last keeps the order total instead of undefined. */
function scoreAt(scores: Float32Array, i: number): number {
  const s = scores[i]!;
  return Number.isNaN(s) ? -Infinity : s;
}

/**
 * Policy `best`: fills `ranked` (cleared first) with the eligible model indices, highest predicted
 * score first; scores within 1e-6 tie and go to the cheaper model (unknown cost after known), then by
 * id so the order is deterministic.
 * @param scores predicted scores, row-major, `table.ids.length` per prompt
 * @param offset index in `scores` of this prompt's first model
 * @returns the number of ranked models (0 when none is eligible)
 */
export function rankBest(scores: Float32Array, offset: number, table: CandidateTable, ranked: number[]): number {
  const m = checkRankArgs(scores, offset, table, ranked);
  ensureScratch(m);
  let n = 0;
  for (let i = 0; i < m; i++) {
    if (table.eligible[i] === 0) continue;
    keyBuf[i] = scoreAt(scores, offset + i);
    const c = table.cost[i]!;
    // Two stores instead of `c === c ? c : Infinity`: TurboFan boxed the ternary's result into a
    // fresh HeapNumber per model (measured: a scavenge every ~13k calls), the plain stores do not.
    costBuf[i] = c;
    if (Number.isNaN(c)) costBuf[i] = Infinity;
    ranked[n++] = i;
  }
  ranked.length = n;
  sortByKey(ranked, n, table.ids);
  return n;
}

const EXPECTED: Readonly<Record<'lambda' | 'targetScore' | 'maxCost' | 'maxLatencyMs' | 'promptTokens', string>> = {
  lambda: 'a finite number >= 0 (score per USD per query)',
  targetScore: 'a number in [0, 1]',
  maxCost: 'a finite number >= 0 (USD per query)',
  maxLatencyMs: 'a number > 0 (milliseconds)',
  promptTokens: 'a finite number >= 0 (tokens)',
};

function badOption(argName: string, field: keyof typeof EXPECTED, value: unknown): RoutecoreError {
  return invalidArgument(`${argName}.${field}`, EXPECTED[field], value);
}

// The range checks take `unknown` and test `typeof` themselves so that callers pass option values
// straight through; each is small enough to be inlined on the hot path.
function nonNegativeFinite(v: unknown): boolean {
  return typeof v === 'number' && v >= 0 && v < Infinity;
}

function checkRequire(req: unknown, argName: string): void {
  if (req === undefined) return;
  if (!Array.isArray(req)) throw invalidArgument(`${argName}.require`, 'an array of capability strings', req);
  for (let i = 0; i < req.length; i++) {
    const r: unknown = req[i];
    if (typeof r !== 'string' || r === '') throw invalidArgument(`${argName}.require[${i}]`, 'a non-empty capability string', r);
  }
}

/** The value checks of {@link validateCostOptions}; rankCost inlines the same checks. */
function checkCostValues(o: Record<string, unknown>, argName: string): void {
  if (o['lambda'] !== undefined && !nonNegativeFinite(o['lambda'])) throw badOption(argName, 'lambda', o['lambda']);
  const t = o['targetScore'];
  if (t !== undefined && !(typeof t === 'number' && t >= 0 && t <= 1)) throw badOption(argName, 'targetScore', t);
  if (o['maxCost'] !== undefined && !nonNegativeFinite(o['maxCost'])) throw badOption(argName, 'maxCost', o['maxCost']);
  const l = o['maxLatencyMs'];
  if (l !== undefined && !(typeof l === 'number' && l > 0)) throw badOption(argName, 'maxLatencyMs', l);
  if (o['promptTokens'] !== undefined && !nonNegativeFinite(o['promptTokens'])) throw badOption(argName, 'promptTokens', o['promptTokens']);
  checkRequire(o['require'], argName);
}

/**
 * Validates `cost` policy options once, outside the hot path, rejecting unknown keys with a
 * suggestion. Returns a frozen copy.
 * @param argName how the caller names the argument in messages, e.g. `options`
 */
export function validateCostOptions(options: unknown, argName: string): CostOptions {
  if (options === undefined) return Object.freeze({});
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument(argName, 'an object of cost policy options', options);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!COST_OPTION_KEYS.includes(key)) {
      const hint = didYouMean(key, COST_OPTION_KEYS);
      throw new RoutecoreError(
        'ERR_ROUTECORE_INVALID_ARGUMENT',
        `Unknown option ${argName}.${key}${hint ? ` (did you mean "${hint}"?)` : ''}; known options: ${COST_OPTION_KEYS.join(', ')}`,
      );
    }
  }
  checkCostValues(o, argName);
  const out: CostOptions = {};
  for (const key of COST_OPTION_KEYS) {
    const v = o[key];
    if (v === undefined) continue;
    (out as Record<string, unknown>)[key] = key === 'require' ? Object.freeze((v as string[]).slice()) : v;
  }
  return Object.freeze(out);
}

/**
 * Policy `cost` (Routoo's selector): fills `ranked` (cleared first) with the indices of models that
 * pass the hard filters, best first, and returns how many.
 *
 * Filters: eligible; cost ≤ `maxCost` (unknown cost excluded); latency ≤ `maxLatencyMs` (unknown
 * latency excluded); when `promptTokens` is given, `contextWindow ≥ promptTokens + outputTokens`;
 * every `require` tag among the model's capabilities.
 * Order: with `targetScore`, models whose predicted score reaches it by cost ascending, then the rest
 * as fallbacks by `score − lambda × cost` descending; without it, all by `score − lambda × cost`
 * descending (λ default 0). Cost is USD per query, repriced at `promptTokens` when given. A model
 * with unknown cost counts as cost 0 here, which only happens when `maxCost` is unset.
 * Ties within 1e-6 go to the cheaper model, then by id.
 * @param options should come from {@link validateCostOptions}; values are re-checked cheaply, keys are not
 * @param rowCost optional predicted USD of this query per model (`train --auto`'s cost by prompt
 *   text), read at `rowCost[rowOffset + i]`; NaN keeps the table's cost for model i
 * @param rowOffset where this query's row starts in `rowCost`; default `offset`
 * @returns the number of ranked models; 0 when nothing passes the filters
 */
export function rankCost(
  scores: Float32Array,
  offset: number,
  table: CandidateTable,
  options: CostOptions,
  ranked: number[],
  rowCost?: Float32Array,
  rowOffset: number = offset,
): number {
  const m = checkRankArgs(scores, offset, table, ranked);
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object of cost policy options', options);
  if (rowCost !== undefined && (!(rowCost instanceof Float32Array) || !Number.isInteger(rowOffset) || rowOffset < 0 || rowOffset + m > rowCost.length)) {
    throw invalidArgument('rowCost', `a Float32Array with rowOffset + ${m} <= its length`, rowCost);
  }
  ensureScratch(m);
  // Options are checked and read into plain doubles plus flags, never kept in `number | undefined`
  // locals or passed to non-inlined helpers: either made TurboFan box a fractional option such as
  // 0.7 into a fresh HeapNumber on every call (measured with --trace-gc).
  let lambda = 0;
  const lambdaOpt = options.lambda;
  if (lambdaOpt !== undefined) {
    if (!(typeof lambdaOpt === 'number' && lambdaOpt >= 0 && lambdaOpt < Infinity)) throw badOption('options', 'lambda', lambdaOpt);
    lambda = lambdaOpt;
  }
  let hasTarget = false;
  let target = 0;
  const targetOpt = options.targetScore;
  if (targetOpt !== undefined) {
    if (!(typeof targetOpt === 'number' && targetOpt >= 0 && targetOpt <= 1)) throw badOption('options', 'targetScore', targetOpt);
    hasTarget = true;
    target = targetOpt;
  }
  // Prices are products of per-million rates, so a cap equal to a model's exact price (0.013) can
  // sit one ulp below the computed cost (0.013000000000000001); a relative 1e-9 slack keeps it in.
  let hasMaxCost = false;
  let maxCost = 0;
  const maxCostOpt = options.maxCost;
  if (maxCostOpt !== undefined) {
    if (!(typeof maxCostOpt === 'number' && maxCostOpt >= 0 && maxCostOpt < Infinity)) throw badOption('options', 'maxCost', maxCostOpt);
    hasMaxCost = true;
    maxCost = maxCostOpt * (1 + 1e-9);
  }
  let hasMaxLatency = false;
  let maxLatency = 0;
  const latencyOpt = options.maxLatencyMs;
  if (latencyOpt !== undefined) {
    if (!(typeof latencyOpt === 'number' && latencyOpt > 0)) throw badOption('options', 'maxLatencyMs', latencyOpt);
    hasMaxLatency = true;
    maxLatency = latencyOpt;
  }
  let hasPrompt = false;
  let pt = 0;
  const ptOpt = options.promptTokens;
  if (ptOpt !== undefined) {
    if (!(typeof ptOpt === 'number' && ptOpt >= 0 && ptOpt < Infinity)) throw badOption('options', 'promptTokens', ptOpt);
    hasPrompt = true;
    pt = ptOpt;
  }
  checkRequire(options.require, 'options');
  const req = options.require;
  const nReq = req === undefined ? 0 : req.length;

  let n = 0;
  for (let i = 0; i < m; i++) {
    if (table.eligible[i] === 0) continue;
    let c = table.cost[i]!;
    if (hasPrompt) c = table.fixedCost[i]! + pt * table.inputCostPerToken[i]!;
    if (rowCost !== undefined) {
      const p = rowCost[rowOffset + i]!;
      if (!Number.isNaN(p)) c = p;
    }
    if (hasMaxCost && !(c <= maxCost)) continue;
    if (hasMaxLatency && !(table.latencyMs[i]! <= maxLatency)) continue;
    if (hasPrompt && table.contextWindow[i]! < pt + table.outputTokens[i]!) continue;
    if (nReq > 0) {
      const caps = table.capabilities[i]!;
      let all = true;
      for (let r = 0; r < nReq; r++) {
        if (!caps.includes(req![r]!)) {
          all = false;
          break;
        }
      }
      if (!all) continue;
    }
    const s = scoreAt(scores, offset + i);
    let ec = c;
    if (Number.isNaN(c)) ec = 0;
    scoreBuf[i] = s;
    costBuf[i] = ec;
    keyBuf[i] = s - lambda * ec;
    groupBuf[i] = hasTarget && s >= target ? 0 : 1;
    ranked[n++] = i;
  }
  ranked.length = n;
  if (!hasTarget) sortByKey(ranked, n, table.ids);
  else sortByTarget(ranked, n, table.ids);
  return n;
}
