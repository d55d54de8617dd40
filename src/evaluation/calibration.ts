/**
 * Calibration of predicted scores: expected calibration error (ECE) and the reliability table behind
 * the reliability plot. A score is calibrated when, among the (prompt, model) pairs predicted near
 * p, the observed mean score is near p (for 0/1 outcomes: the model is right about p of the time).
 * @module
 */

/** One bin of a reliability table. */
export interface ReliabilityBin {
  /** Bin edges of the predicted score, [lo, hi). The last bin includes 1. */
  lo: number;
  hi: number;
  /** (prompt, model) pairs whose predicted score falls in the bin. */
  count: number;
  /** Their mean predicted score, and their mean observed score (NaN when the bin is empty). */
  predicted: number;
  observed: number;
}

/** ECE and its table. */
export interface Reliability {
  /** Σ over bins of (count / total) · |observed − predicted|. */
  ece: number;
  /** Pairs counted (a predicted score with a known observed score). */
  pairs: number;
  bins: ReliabilityBin[];
}

/**
 * The reliability table of predictions `pred` against outcomes `obs` (same length; pairs where
 * either is not finite are skipped) over `bins` equal-width bins of [0, 1].
 */
export function reliability(pred: ArrayLike<number>, obs: ArrayLike<number>, bins = 10): Reliability {
  const count = new Float64Array(bins), sp = new Float64Array(bins), so = new Float64Array(bins);
  let pairs = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!, o = obs[i]!;
    if (!Number.isFinite(p) || !Number.isFinite(o)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    count[b]++;
    sp[b] += p;
    so[b] += o;
    pairs++;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const n = count[b]!;
    const predicted = n ? sp[b]! / n : NaN, observed = n ? so[b]! / n : NaN;
    if (n) ece += (n / pairs) * Math.abs(observed - predicted);
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: n, predicted, observed });
  }
  return { ece: pairs ? ece : NaN, pairs, bins: out };
}
