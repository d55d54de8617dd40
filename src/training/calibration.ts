/**
 * Platt scaling fitted on out-of-fold predictions: calibrated = sigmoid(a·logit(s) + b), fitted by
 * Newton's method on the cross-entropy with the observed scores as (soft) labels.
 * @module
 */
import { clippedLogit } from '../routing/postprocess.js';

/** Bounds on the slope: monotone increasing, never flattening a model's scores to a constant. */
const A_MIN = 0.05, A_MAX = 20;
/** A weak pull toward the identity (a = 1, b = 0), per pair, so tiny or separable data stays sane. */
const RIDGE = 1e-3;

/**
 * Fits (a, b) on pairs (prediction, outcome in [0,1]); non-finite pairs are skipped. With fewer than
 * 10 pairs, or outcomes that do not vary, the identity (1, 0) is returned.
 */
export function fitPlatt(pred: ArrayLike<number>, obs: ArrayLike<number>): { a: number; b: number } {
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!, o = obs[i]!;
    if (!Number.isFinite(p) || !Number.isFinite(o)) continue;
    xs.push(clippedLogit(p));
    ys.push(o);
  }
  const n = xs.length;
  if (n < 10) return { a: 1, b: 0 };
  let ymin = Infinity, ymax = -Infinity;
  for (const y of ys) {
    ymin = Math.min(ymin, y);
    ymax = Math.max(ymax, y);
  }
  if (!(ymax > ymin)) return { a: 1, b: 0 };
  const lam = RIDGE * n;
  const loss = (a: number, b: number): number => {
    let l = 0.5 * lam * ((a - 1) ** 2 + b * b);
    for (let i = 0; i < n; i++) {
      const z = a * xs[i]! + b;
      // log(1 + e^z) − y·z, computed stably.
      l += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - ys[i]! * z;
    }
    return l;
  };
  let a = 1, b = 0, cur = loss(a, b);
  for (let it = 0; it < 50; it++) {
    let ga = lam * (a - 1), gb = lam * b, haa = lam, hab = 0, hbb = lam;
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      const p = 1 / (1 + Math.exp(-(a * x + b)));
      const r = p - ys[i]!, w = p * (1 - p);
      ga += r * x;
      gb += r;
      haa += w * x * x;
      hab += w * x;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    let step = 1, na = a, nb = b, next = cur;
    for (let h = 0; h < 30; h++) {
      na = Math.min(A_MAX, Math.max(A_MIN, a - step * da));
      nb = b - step * db;
      next = loss(na, nb);
      if (next <= cur) break;
      step /= 2;
    }
    if (!(next <= cur)) break;
    const moved = Math.abs(na - a) + Math.abs(nb - b);
    a = na;
    b = nb;
    cur = next;
    if (moved < 1e-7) break;
  }
  return { a, b };
}
