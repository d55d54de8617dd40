/**
 * Budget-aware operating points of the `cost` policy: a target — at most X USD per 1,000 queries,
 * or at least quality Q at the least cost — met by choosing λ on the **training** data's
 * out-of-fold sweep (`train --auto` stores it as `cvSweep`), never on a test split.
 *
 * The λ grid is discrete, so a budget often falls between two neighbouring points of the sweep's
 * cost–quality curve. Then the two are **mixed**: each request is routed with the pricier λ with
 * probability p and the cheaper one otherwise, p chosen so that the expected cost (or quality)
 * meets the target exactly: p = (target − a) / (b − a) along the curve. Expected cost and quality
 * of such a mix are the same mixture of the two points' (each request is one or the other), so the
 * CV figures of the mix are exact expectations, not estimates. **Serving the mix** is per-request
 * randomisation at the stated rate: {@link lambdaFor} draws λ for one request from a uniform
 * number in [0, 1) (`Math.random()` by default; pass a hash of the request id for a repeatable
 * split); `routecore info --router` states both λ and the rate.
 *
 * Only points on the upper convex hull of the sweep are mixed: a point under the hull is beaten by
 * a mix of its neighbours at the same cost.
 *
 * **Uncertain costs.** When the sweep's points carry the standard error of their cost (`train
 * --auto` bootstraps the training rows), a budget is held at each point's one-sided 95% upper bound,
 * cost + {@link BUDGET_Z}·se, rather than at its mean: the point is then within the budget on data
 * like the training data with 95% confidence instead of 50%. A quality floor is not changed.
 * @module
 */
import { invalidArgument } from '../errors.js';

/**
 * One sweep point: its λ (null for the `best` policy: λ = 0), out-of-fold quality and cost, and
 * optionally the standard error of that cost (a bootstrap over the training rows).
 */
export interface SweepPointLite {
  lambda: number | null;
  quality: number;
  cost1k: number;
  cost1kSe?: number;
}

/**
 * One-sided normal quantile of a budget's confidence (95%): a `maxCost1k` budget is met by the
 * point whose out-of-fold cost plus BUDGET_Z standard errors is within it, when the sweep carries
 * standard errors. The out-of-fold cost is itself an estimate from a few thousand rows; fixed at
 * its mean, the point overshoots the budget on half of the data sets it meets (routerbench: $1.56
 * on test at a $1.50 point). A rule, not a margin fitted to that figure.
 */
export const BUDGET_Z = 1.645;

/** A budget: `maxCost1k` (USD per 1,000 queries) or `minQuality` (mean quality, cheapest first). */
export interface CostTarget {
  maxCost1k?: number;
  minQuality?: number;
}

/** The chosen operating point: one λ, or a mix of two with the share sent to the second. */
export interface OperatingPoint {
  target: CostTarget;
  /** λ used with probability 1 − `share`, and (when mixed) λ used with probability `share`. */
  lambda: number;
  mixWith: number | null;
  /** Share of requests routed with `mixWith` (0 when not mixed). */
  share: number;
  /** Expected out-of-fold quality and cost of the point (or mix) on the training data. */
  quality: number;
  cost1k: number;
  /** With standard errors on the sweep and a budget: the cost's upper bound (cost + BUDGET_Z·se) the budget was held to. */
  cost1kUpper?: number;
  /** False when no point of the sweep can meet the target: the nearest one is given instead. */
  met: boolean;
  /** In words, for reports and `info --router`. */
  text: string;
}

/** The upper-left convex hull of the points: cost increasing, quality increasing, concave. */
function hull(points: readonly SweepPointLite[]): SweepPointLite[] {
  const pts = points.filter((p) => Number.isFinite(p.quality) && Number.isFinite(p.cost1k)).map((p) => ({ ...p, lambda: p.lambda ?? 0 }));
  pts.sort((a, b) => a.cost1k - b.cost1k || b.quality - a.quality);
  const mono: SweepPointLite[] = [];
  for (const p of pts) if (mono.length === 0 || p.quality > mono[mono.length - 1]!.quality + 1e-12) mono.push(p);
  const h: SweepPointLite[] = [];
  for (const p of mono) {
    while (h.length >= 2) {
      const a = h[h.length - 2]!, b = h[h.length - 1]!;
      // b is under the chord a→p: drop it.
      const cross = (b.cost1k - a.cost1k) * (p.quality - a.quality) - (b.quality - a.quality) * (p.cost1k - a.cost1k);
      if (cross >= 0) h.pop();
      else break;
    }
    h.push(p);
  }
  return h;
}

const money = (x: number): string => (x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`);

/**
 * The operating point of `sweep` (λ points of the `cost` policy, with out-of-fold quality and cost)
 * that meets `target`: the best quality within `maxCost1k`, or the least cost reaching
 * `minQuality`, mixing the two neighbouring hull points when no single one lands on the target.
 */
export function chooseOperatingPoint(sweep: readonly SweepPointLite[], target: CostTarget): OperatingPoint {
  const { maxCost1k, minQuality } = target ?? {};
  if ((maxCost1k === undefined) === (minQuality === undefined)) throw invalidArgument('target', 'exactly one of maxCost1k or minQuality', target);
  if (maxCost1k !== undefined && !(maxCost1k >= 0 && Number.isFinite(maxCost1k))) throw invalidArgument('target.maxCost1k', 'a finite number >= 0 (USD per 1,000 queries)', maxCost1k);
  if (minQuality !== undefined && !(Number.isFinite(minQuality))) throw invalidArgument('target.minQuality', 'a finite number', minQuality);
  // A budget is checked against each point's upper bound (cost + BUDGET_Z·se) where the sweep has
  // standard errors: the hull and the mix are taken on those costs, and the point's expected cost
  // is reported beside its bound.
  const bounded = maxCost1k !== undefined && sweep.some((p) => (p.cost1kSe ?? 0) > 0);
  const upper = new Map<SweepPointLite, number>();
  const pts = bounded
    ? sweep.map((p) => {
        const q = { ...p, cost1k: p.cost1k + BUDGET_Z * (p.cost1kSe ?? 0) };
        upper.set(q, p.cost1k);
        return q;
      })
    : sweep;
  const mean = (p: SweepPointLite): number => upper.get(p) ?? p.cost1k;
  const h = hull(pts).map((p) => {
    const src = pts.find((x) => (x.lambda ?? 0) === p.lambda && x.cost1k === p.cost1k && x.quality === p.quality);
    return src && bounded ? Object.assign(p, { meanCost1k: mean(src) }) : p;
  });
  const expected = (p: SweepPointLite): number => (p as SweepPointLite & { meanCost1k?: number }).meanCost1k ?? p.cost1k;
  const bound = (p: SweepPointLite): string => (bounded ? ` (its 95% upper bound ${money(p.cost1k)})` : '');
  if (h.length === 0) throw invalidArgument('sweep', 'at least one point with finite quality and cost', sweep);
  const single = (p: SweepPointLite, met: boolean): OperatingPoint => ({
    target,
    lambda: p.lambda ?? 0,
    mixWith: null,
    share: 0,
    quality: p.quality,
    cost1k: expected(p),
    ...(bounded ? { cost1kUpper: p.cost1k } : {}),
    met,
    text: `cost λ=${p.lambda ?? 0}: CV quality ${p.quality.toFixed(3)} at ${money(expected(p))}/1k${bound(p)}${met ? '' : ' (the nearest point: the target cannot be met on the training data)'}`,
  });
  // Position along the hull: cost for a budget, quality for a quality floor (both increase along it).
  const key = (p: SweepPointLite): number => (maxCost1k !== undefined ? p.cost1k : p.quality);
  const goal = (maxCost1k ?? minQuality)!;
  if (goal <= key(h[0]!) + 1e-12) return single(h[0]!, goal >= key(h[0]!) - 1e-12 || minQuality !== undefined);
  const last = h[h.length - 1]!;
  if (goal >= key(last) - 1e-12) return single(last, maxCost1k !== undefined || goal <= key(last) + 1e-12);
  let i = 0;
  while (key(h[i + 1]!) < goal) i++;
  const a = h[i]!, b = h[i + 1]!;
  if (Math.abs(key(b) - goal) <= 1e-12) return single(b, true);
  const share = (goal - key(a)) / (key(b) - key(a));
  const quality = a.quality + share * (b.quality - a.quality);
  const cost1k = expected(a) + share * (expected(b) - expected(a));
  const upperCost = a.cost1k + share * (b.cost1k - a.cost1k);
  return {
    target,
    lambda: a.lambda ?? 0,
    mixWith: b.lambda ?? 0,
    share,
    quality,
    cost1k,
    ...(bounded ? { cost1kUpper: upperCost } : {}),
    met: true,
    text: `mix of cost λ=${a.lambda ?? 0} (${((1 - share) * 100).toFixed(1)}% of requests) and λ=${b.lambda ?? 0} (${(share * 100).toFixed(1)}%), drawn per request: expected CV quality ${quality.toFixed(3)} at ${money(cost1k)}/1k${bounded ? ` (its 95% upper bound ${money(upperCost)})` : ''}`,
  };
}

/** The λ to route one request with: `mixWith` when `u` < `share`, else `lambda`; `u` uniform in [0, 1). */
export function lambdaFor(point: Pick<OperatingPoint, 'lambda' | 'mixWith' | 'share'>, u: number = Math.random()): number {
  return point.mixWith !== null && u < point.share ? point.mixWith : point.lambda;
}
