/**
 * Live quality from judged pairs, each figure with its sample size and a 95% confidence interval
 * (docs/LEARNING.md, "Estimates"):
 * - shares (the cheaper answer was as good; the router's choice was as good): Wilson score interval;
 * - the serving router's APGR on this traffic and the saving against always calling the strongest
 *   model: percentile bootstrap (1,000 resamples of the judged prompts, fixed seed, so the same log
 *   gives the same interval).
 * Only the uniformly sampled pairs enter the estimates: the pairs sampled for the router's
 * uncertainty over-represent hard prompts and would bias every share (they still train the router).
 * @module
 */
import { apgr, pgrCurve } from '../evaluation/metrics.js';
import type { Judgment } from '../training/judged-pairs.js';

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;
/** Bootstrap resamples. */
export const BOOTSTRAP_RESAMPLES = 1000;

/** A share or ratio with its interval. */
export interface Estimate {
  /** The point estimate; null when there is nothing to estimate from (n = 0, or a ratio with no denominator). */
  value: number | null;
  /** 95% interval [low, high]; null with the value. */
  interval: [number, number] | null;
  /** Judged prompts the estimate rests on. */
  n: number;
  /** `wilson` or `bootstrap`. */
  method: 'wilson' | 'bootstrap';
}

/** Wilson score interval for `k` successes in `n` trials (95%). */
export function wilson(k: number, n: number, z = Z95): Estimate {
  if (n <= 0) return { value: null, interval: null, n: 0, method: 'wilson' };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { value: p, interval: [Math.max(0, centre - half), Math.min(1, centre + half)], n, method: 'wilson' };
}

/** A small seeded generator (mulberry32): bootstrap intervals must not change between two reads of one log. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Percentile bootstrap of a statistic over `n` items: `stat(indices)` on resamples with replacement.
 * Resamples where the statistic is undefined (null) are dropped; fewer than half usable: no interval.
 */
export function bootstrap(n: number, stat: (idx: Uint32Array) => number | null, options: { resamples?: number; seed?: number } = {}): [number, number] | null {
  const B = options.resamples ?? BOOTSTRAP_RESAMPLES;
  const rand = seededRandom(options.seed ?? 1);
  const values: number[] = [];
  const idx = new Uint32Array(n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    const v = stat(idx);
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  if (values.length < B / 2) return null;
  values.sort((x, y) => x - y);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.floor(q * (values.length - 1))))]!;
  return [at(0.025), at(0.975)];
}

/** The judged-quality block of `/v1/stats` and `routecore report`. */
export interface QualityReport {
  /** Judged pairs in total (uniform and uncertainty-sampled). */
  judged: number;
  /** Pairs in the uniform sample, the ones the estimates use. */
  uniform: number;
  /** Verdicts of every judged pair: the served answer better, the comparison's better, tie. */
  verdicts: { served: number; comparison: number; tie: number };
  /** Share of prompts where the cheaper of the two answers was at least as good (Wilson). */
  cheaperAsGood: Estimate;
  /** Share of prompts where the router's choice was at least as good as its counterpart (Wilson); for two models the "quality" the saving is measured at. */
  routerAsGood: Estimate;
  /** The serving router's APGR on this traffic (two models: its strong/weak pair), bootstrap; null value when the judged pairs show no gap between the two. */
  apgr: Estimate & { strong: string | null; weak: string | null };
  /** 1 − spend / (spend had every request gone to the strongest model), bootstrap. */
  saving: Estimate & { strongest: string | null; usdPer1k: number | null };
  /** USD spent on shadow calls (comparison + both judge calls) for these pairs. */
  shadowSpendUsd: number;
}

/** The estimates from judged pairs. `strongest`: the registry's most expensive model (the "always call it" baseline). */
export function qualityReport(judgments: readonly Judgment[], strongest: string | null): QualityReport {
  const verdicts = { served: 0, comparison: 0, tie: 0 };
  let spend = 0;
  for (const j of judgments) {
    verdicts[j.verdict]++;
    spend += (j.comparisonCostUsd ?? 0) + (j.judgeCostUsd ?? 0);
  }
  const u = judgments.filter((j) => j.sample === 'uniform');

  // The cheaper answer as good: over pairs whose two models differ in price.
  const priced = u.filter((j) => j.cheaper !== null);
  const cheapOk = priced.filter((j) => j.verdict === 'tie' || (j.verdict === 'served') === (j.cheaper === j.served)).length;
  const cheaperAsGood = wilson(cheapOk, priced.length);

  const routerOk = u.filter((j) => j.verdict !== 'comparison').length;
  const routerAsGood = wilson(routerOk, u.length);

  return {
    judged: judgments.length,
    uniform: u.length,
    verdicts,
    cheaperAsGood,
    routerAsGood,
    apgr: apgrEstimate(u),
    saving: savingEstimate(u, strongest),
    shadowSpendUsd: round(spend, 9),
  };
}

/** The most judged pair of models, as (strong, weak) by price; the APGR is defined for one pair. */
export function dominantPair(judgments: readonly Judgment[]): { strong: string; weak: string } | null {
  const counts = new Map<string, { strong: string; weak: string; n: number }>();
  for (const j of judgments) {
    if (j.strong === null || j.routeScore === null) continue;
    const weak = j.strong === j.served ? j.comparison : j.served;
    const k = `${j.strong}\u0000${weak}`;
    const c = counts.get(k) ?? { strong: j.strong, weak, n: 0 };
    c.n++;
    counts.set(k, c);
  }
  let best: { strong: string; weak: string; n: number } | null = null;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  return best ? { strong: best.strong, weak: best.weak } : null;
}

/**
 * Per prompt of the pair (strong, weak): whether the strong answer was at least as good, whether
 * the weak one was, from a judged pair's verdict.
 */
export function pairScores(j: Judgment, strong: string): { strong: number; weak: number } {
  const strongWon = j.verdict === 'tie' ? null : (j.verdict === 'served') === (j.served === strong);
  return { strong: strongWon === false ? 0 : 1, weak: strongWon === true ? 0 : 1 };
}

/** APGR of route scores over judged pairs of one (strong, weak) pair; null when the pairs show no gap. */
export function judgedApgr(strong: ArrayLike<number>, weak: ArrayLike<number>, routeScore: ArrayLike<number>): number | null {
  let gap = 0;
  for (let i = 0; i < strong.length; i++) gap += strong[i]! - weak[i]!;
  if (strong.length === 0 || gap <= 0) return null;
  return apgr(pgrCurve(strong, weak, routeScore, 100));
}

/**
 * APGR of items already sorted by route score (highest first), item i counted `weight[i]` times (a
 * bootstrap resample as multiplicities, so a resample costs O(n) rather than a sort). With unit
 * weights it equals `apgr(pgrCurve(...))` on the same items. Null when there is no gap.
 */
export function sortedApgr(strong: ArrayLike<number>, weak: ArrayLike<number>, weight: ArrayLike<number> | null, steps = 100): number | null {
  const n = strong.length;
  let total = 0, gap = 0;
  for (let i = 0; i < n; i++) {
    const w = weight ? weight[i]! : 1;
    total += w;
    gap += w * (strong[i]! - weak[i]!);
  }
  if (total === 0 || gap <= 1e-12 * total) return null;
  let i = 0, left = n > 0 ? (weight ? weight[0]! : 1) : 0, used = 0, gain = 0, area = 0, prevShare = 0, prevPgr = 0;
  for (let t = 0; t <= steps; t++) {
    const k = Math.round((t * total) / steps);
    // Weights may be fractional (inverse sampling probabilities): compare with a tolerance.
    while (k - used > 1e-9 * total && i < n) {
      if (left <= 1e-12) {
        i++;
        left = i < n ? (weight ? weight[i]! : 1) : 0;
        continue;
      }
      const take = Math.min(left, k - used);
      gain += take * (strong[i]! - weak[i]!);
      used += take;
      left -= take;
    }
    const share = k / total;
    const pgr = gain / gap;
    if (t > 0) area += ((prevPgr + pgr) / 2) * (share - prevShare);
    prevShare = share;
    prevPgr = pgr;
  }
  return area;
}

function apgrEstimate(u: readonly Judgment[]): QualityReport['apgr'] {
  const pair = dominantPair(u);
  if (!pair) return { value: null, interval: null, n: 0, method: 'bootstrap', strong: null, weak: null };
  const rows = u.filter((j) => j.routeScore !== null && j.strong === pair.strong && (j.served === pair.weak || j.comparison === pair.weak));
  const n = rows.length;
  // Sorted once by route score (ties by log order, as pgrCurve breaks them); resamples only re-weight.
  const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.routeScore! - rows[a]!.routeScore! || a - b);
  const s = new Float64Array(n), w = new Float64Array(n);
  order.forEach((k, i) => {
    const p = pairScores(rows[k]!, pair.strong);
    s[i] = p.strong;
    w[i] = p.weak;
  });
  const value = sortedApgr(s, w, null);
  const counts = new Float64Array(n);
  const interval =
    value === null
      ? null
      : bootstrap(n, (idx) => {
          counts.fill(0);
          for (let i = 0; i < n; i++) counts[idx[i]!]!++;
          return sortedApgr(s, w, counts);
        });
  return { value: value === null ? null : round(value, 4), interval: interval && [round(interval[0], 4), round(interval[1], 4)], n, method: 'bootstrap', strong: pair.strong, weak: pair.weak };
}

function savingEstimate(u: readonly Judgment[], strongest: string | null): QualityReport['saving'] {
  const empty = { value: null, interval: null, n: 0, method: 'bootstrap' as const, strongest, usdPer1k: null };
  if (strongest === null) return empty;
  const actual: number[] = [];
  const always: number[] = [];
  for (const j of u) {
    if (j.servedCostUsd === null) continue;
    const strongCost = j.served === strongest ? j.servedCostUsd : j.comparison === strongest ? j.comparisonCostUsd : null;
    if (strongCost === null) continue;
    actual.push(j.servedCostUsd);
    always.push(strongCost);
  }
  const n = actual.length;
  if (n === 0) return empty;
  const ratio = (idx: Uint32Array | null): number | null => {
    let a = 0, b = 0;
    for (let i = 0; i < n; i++) {
      const k = idx ? idx[i]! : i;
      a += actual[k]!;
      b += always[k]!;
    }
    return b > 0 ? 1 - a / b : null;
  };
  const value = ratio(null);
  const interval = value === null ? null : bootstrap(n, ratio, { seed: 2 });
  let diff = 0;
  for (let i = 0; i < n; i++) diff += always[i]! - actual[i]!;
  return {
    value: value === null ? null : round(value, 4),
    interval: interval && [round(interval[0], 4), round(interval[1], 4)],
    n,
    method: 'bootstrap',
    strongest,
    usdPer1k: round((diff / n) * 1000, 6),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
