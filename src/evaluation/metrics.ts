/**
 * Routing evaluation metrics (docs/ARCHITECTURE.md "Evaluation"): RouteLLM's PGR curve, APGR and CPT for
 * strong/weak routing, and RouterBench's non-decreasing convex hull and AIQ for N models.
 * Pure functions over arrays; they run once per evaluation, not per routed prompt.
 */
import { RoutecoreError, invalidArgument } from '../errors.js';

/** One operating point of a two-model router. */
export interface PgrPoint {
  /** Share of prompts actually sent to the strong model, k/n. */
  strongShare: number;
  /** Mean score at this share. */
  quality: number;
  /** Performance gap recovered: (quality − weakQuality) / (strongQuality − weakQuality). */
  pgr: number;
}

/** A cost–quality point (any cost unit, e.g. USD per 1k queries). */
export interface CostQualityPoint {
  cost: number;
  quality: number;
}

/** The tolerance for "PGR reaches the target", so 0.8 is reached by a PGR of 0.79999999999 from rounding. */
const PGR_TOLERANCE = 1e-9;

function checkNumbers(values: unknown, name: string, n: number | undefined): number {
  if (typeof values !== 'object' || values === null || typeof (values as { length?: unknown }).length !== 'number') {
    throw invalidArgument(name, 'an array or typed array of numbers', values);
  }
  const a = values as ArrayLike<unknown>;
  if (n !== undefined && a.length !== n) {
    throw invalidArgument(name, `an array of length ${n} (one value per prompt, like strong)`, values);
  }
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(`${name}[${i}]`, 'a finite number', v);
  }
  return a.length;
}

/**
 * PGR curve of a two-model router (RouteLLM). At each nominal share s = 0, 1/steps, …, 1 the
 * `round(s × n)` prompts with the highest `routeScore` go to the strong model and the rest to the
 * weak one; where the cut falls inside a run of equal `routeScore`, the run's prompts count at
 * their mean gain (the expectation over which of them go first), so the curve is deterministic and
 * a constant router's APGR is 0.5 whatever the row order; `strongShare` is the share actually
 * achieved, k/n. PGR is `(quality − weakQuality) / (strongQuality − weakQuality)` with the all-strong
 * and all-weak mean scores; it is 0 at share 0 and exactly 1 at share 1.
 * @param strong score of the strong model on each prompt
 * @param weak score of the weak model on each prompt
 * @param routeScore the router's preference for the strong model on each prompt (higher = strong)
 * @param steps number of intervals of the share grid, default 100
 * @throws RoutecoreError `ERR_ROUTECORE_BAD_DATA` when both models have the same mean score (PGR undefined)
 */
export function pgrCurve(
  strong: ArrayLike<number>,
  weak: ArrayLike<number>,
  routeScore: ArrayLike<number>,
  steps: number = 100,
): PgrPoint[] {
  const n = checkNumbers(strong, 'strong', undefined);
  if (n === 0) throw invalidArgument('strong', 'a non-empty array of scores', strong);
  checkNumbers(weak, 'weak', n);
  checkNumbers(routeScore, 'routeScore', n);
  if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 1 || steps > 1_000_000) {
    throw invalidArgument('steps', 'an integer in [1, 1000000]', steps);
  }

  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => routeScore[b]! - routeScore[a]! || a - b);

  let weakSum = 0;
  for (let i = 0; i < n; i++) weakSum += weak[i]!;
  // gain[k]: how much the total score rises when the top-k prompts go to the strong model.
  const gain = new Float64Array(n + 1);
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    gain[k + 1] = gain[k]! + (strong[i]! - weak[i]!);
  }
  // Prompts of equal routeScore are one decision: which of them go first is arbitrary, so within a
  // run of ties the gain rises by the run's mean per prompt (its expectation over the orders of the
  // run). Otherwise a constant router's APGR would be that of the file's row order, not 0.5.
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && routeScore[order[e]!]! === routeScore[order[s]!]!) e++;
    if (e - s > 1) {
      const step = (gain[e]! - gain[s]!) / (e - s);
      for (let k = s + 1; k < e; k++) gain[k] = gain[s]! + step * (k - s);
    }
    s = e;
  }
  const gap = gain[n]!;
  if (Math.abs(gap / n) < 1e-12) {
    const mean = (weakSum / n).toFixed(4);
    throw new RoutecoreError(
      'ERR_ROUTECORE_BAD_DATA',
      `PGR is undefined: the strong and weak models have the same mean score (${mean}) on these ${n} prompts, so there is no gap to recover`,
    );
  }
  const curve: PgrPoint[] = [];
  for (let t = 0; t <= steps; t++) {
    const k = Math.round((t * n) / steps);
    curve.push({ strongShare: k / n, quality: (weakSum + gain[k]!) / n, pgr: gain[k]! / gap });
  }
  return curve;
}

function checkCurve(curve: unknown, minPoints: number): PgrPoint[] {
  if (!Array.isArray(curve) || curve.length < minPoints) {
    throw invalidArgument('curve', `an array of at least ${minPoints} PGR points (from pgrCurve)`, curve);
  }
  let prev = -Infinity;
  for (let i = 0; i < curve.length; i++) {
    const p: unknown = curve[i];
    if (typeof p !== 'object' || p === null) throw invalidArgument(`curve[${i}]`, 'a { strongShare, pgr } point', p);
    const { strongShare, pgr } = p as Partial<PgrPoint>;
    if (typeof strongShare !== 'number' || !Number.isFinite(strongShare)) {
      throw invalidArgument(`curve[${i}].strongShare`, 'a finite number', strongShare);
    }
    if (typeof pgr !== 'number' || !Number.isFinite(pgr)) throw invalidArgument(`curve[${i}].pgr`, 'a finite number', pgr);
    if (strongShare < prev) {
      throw invalidArgument(`curve[${i}].strongShare`, `a value >= the previous point's ${prev} (points sorted by share)`, strongShare);
    }
    prev = strongShare;
  }
  return curve as PgrPoint[];
}

/**
 * APGR: area under PGR as a function of strong share (trapezoid rule). For a curve over [0,1]
 * random routing scores about 0.5 and a perfect router more.
 */
export function apgr(curve: PgrPoint[]): number {
  const c = checkCurve(curve, 2);
  let area = 0;
  for (let i = 1; i < c.length; i++) {
    area += ((c[i - 1]!.pgr + c[i]!.pgr) / 2) * (c[i]!.strongShare - c[i - 1]!.strongShare);
  }
  return area;
}

/**
 * CPT(target): the smallest strong share on the curve whose PGR reaches `targetPgr` (e.g. 0.5 for
 * CPT(50%)), or null when no point reaches it.
 */
export function cpt(curve: PgrPoint[], targetPgr: number): number | null {
  const c = checkCurve(curve, 1);
  if (typeof targetPgr !== 'number' || !Number.isFinite(targetPgr)) {
    throw invalidArgument('targetPgr', 'a finite number such as 0.5', targetPgr);
  }
  for (const p of c) if (p.pgr >= targetPgr - PGR_TOLERANCE) return p.strongShare;
  return null;
}

function checkPoints(points: unknown, name: string): CostQualityPoint[] {
  if (!Array.isArray(points) || points.length === 0) {
    throw invalidArgument(name, 'a non-empty array of { cost, quality } points', points);
  }
  for (let i = 0; i < points.length; i++) {
    const p: unknown = points[i];
    if (typeof p !== 'object' || p === null) throw invalidArgument(`${name}[${i}]`, 'a { cost, quality } point', p);
    const { cost, quality } = p as Partial<CostQualityPoint>;
    if (typeof cost !== 'number' || !Number.isFinite(cost)) throw invalidArgument(`${name}[${i}].cost`, 'a finite number', cost);
    if (typeof quality !== 'number' || !Number.isFinite(quality)) {
      throw invalidArgument(`${name}[${i}].quality`, 'a finite number', quality);
    }
  }
  return points as CostQualityPoint[];
}

/**
 * RouterBench's non-decreasing convex hull: from the cheapest point, keep only points that raise
 * quality (the cost–quality Pareto front), then drop any point on or below the segment joining its
 * neighbours. The result is sorted by cost, quality strictly increasing, concave; it is what any
 * mixture of the given routers (e.g. single models) can reach.
 */
export function convexHull(points: CostQualityPoint[]): CostQualityPoint[] {
  const pts = checkPoints(points, 'points')
    .map((p) => ({ cost: p.cost, quality: p.quality }))
    .sort((a, b) => a.cost - b.cost || b.quality - a.quality);
  const hull: CostQualityPoint[] = [];
  for (const p of pts) {
    // A point no better than a cheaper one is dominated; it can never be on the hull.
    if (hull.length > 0 && p.quality <= hull[hull.length - 1]!.quality) continue;
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      const cross = (b.cost - a.cost) * (p.quality - a.quality) - (b.quality - a.quality) * (p.cost - a.cost);
      if (cross >= 0) hull.pop();
      else break;
    }
    hull.push(p);
  }
  return hull;
}

/**
 * AIQ (RouterBench): the area under the non-decreasing convex hull of `points` over
 * `costRange = [lo, hi]`, divided by `hi − lo`, i.e. the hull's mean quality over that range.
 * Right of the most expensive hull point the hull stays flat at its best quality; left of the
 * cheapest point nothing is reachable, so it counts as quality 0 — compare routers over the same range.
 */
export function aiq(points: CostQualityPoint[], costRange: [number, number]): number {
  const hull = convexHull(points);
  if (!Array.isArray(costRange) || costRange.length !== 2) {
    throw invalidArgument('costRange', 'a [lo, hi] pair of finite numbers with lo < hi', costRange);
  }
  const [lo, hi] = costRange;
  if (typeof lo !== 'number' || !Number.isFinite(lo)) throw invalidArgument('costRange[0]', 'a finite number', lo);
  if (typeof hi !== 'number' || !Number.isFinite(hi) || !(hi > lo)) {
    throw invalidArgument('costRange[1]', `a finite number greater than costRange[0] (${lo})`, hi);
  }
  let area = 0;
  for (let i = 0; i + 1 < hull.length; i++) {
    const p = hull[i]!;
    const q = hull[i + 1]!;
    const a = Math.max(lo, p.cost);
    const b = Math.min(hi, q.cost);
    if (b <= a) continue;
    const slope = (q.quality - p.quality) / (q.cost - p.cost);
    const fa = p.quality + slope * (a - p.cost);
    const fb = p.quality + slope * (b - p.cost);
    area += ((fa + fb) / 2) * (b - a);
  }
  const last = hull[hull.length - 1]!;
  const start = Math.max(lo, last.cost);
  if (hi > start) area += last.quality * (hi - start);
  return area / (hi - lo);
}

