/**
 * Budget-aware operating points (src/training/operating-point.ts): a budget between two λ points
 * of the sweep is met by mixing them per request at the stated rate; a point that fits is used
 * alone; a quality floor takes the least cost; points under the hull are never used; and `train
 * --auto` stores the calibrated point when given a cost target.
 */
import { describe, expect, it } from 'vitest';

import { BUDGET_Z, chooseOperatingPoint, lambdaFor } from '../src/training/operating-point.js';
import { train } from '../src/training/train.js';
import type { OutcomeRecord } from '../src/training/data.js';

// λ = 0 is the dear end (best quality), large λ the cheap end; λ=3 lies under the hull.
const SWEEP = [
  { lambda: 0, quality: 0.88, cost1k: 5 },
  { lambda: 10, quality: 0.86, cost1k: 2 },
  { lambda: 3, quality: 0.84, cost1k: 3 },
  { lambda: 30, quality: 0.8, cost1k: 0.5 },
  { lambda: 100, quality: 0.7, cost1k: 0.1 },
];

describe('chooseOperatingPoint', () => {
  it('mixes the two neighbouring hull points when the budget falls between them, at the rate that spends it exactly', () => {
    const op = chooseOperatingPoint(SWEEP, { maxCost1k: 1.5 });
    expect(op.lambda).toBe(30);
    expect(op.mixWith).toBe(10);
    // 0.5 + p·(2 − 0.5) = 1.5 → p = 2/3; quality 0.8 + 2/3·0.06 = 0.84.
    expect(op.share).toBeCloseTo(2 / 3, 12);
    expect(op.cost1k).toBeCloseTo(1.5, 12);
    expect(op.quality).toBeCloseTo(0.84, 12);
    expect(op.met).toBe(true);
    expect(op.text).toBe('mix of cost λ=30 (33.3% of requests) and λ=10 (66.7%), drawn per request: expected CV quality 0.840 at $1.50/1k');
    expect(lambdaFor(op, 0.5)).toBe(10);
    expect(lambdaFor(op, 0.7)).toBe(30);
    // The served rate is the stated one.
    let dear = 0;
    for (let i = 0; i < 3000; i++) if (lambdaFor(op, (i + 0.5) / 3000) === 10) dear++;
    expect(dear / 3000).toBeCloseTo(2 / 3, 3);
  });

  it('uses a single point when the budget lands on it or beyond the curve, never a point under the hull', () => {
    expect(chooseOperatingPoint(SWEEP, { maxCost1k: 2 })).toMatchObject({ lambda: 10, mixWith: null, share: 0, met: true });
    expect(chooseOperatingPoint(SWEEP, { maxCost1k: 50 })).toMatchObject({ lambda: 0, mixWith: null, met: true });
    // 3 $/1k: on the chord 10 → 0 (the λ=3 point at 0.84 is under it).
    const op = chooseOperatingPoint(SWEEP, { maxCost1k: 3 });
    expect([op.lambda, op.mixWith]).toEqual([10, 0]);
    expect(op.quality).toBeCloseTo(0.86 + (1 / 3) * 0.02, 12);
    // Below the cheapest point nothing fits: the cheapest is given, marked not met.
    const low = chooseOperatingPoint(SWEEP, { maxCost1k: 0.05 });
    expect(low).toMatchObject({ lambda: 100, met: false });
    expect(low.text).toMatch(/the target cannot be met/);
  });

  it('with standard errors on the costs, a budget holds at the upper bound cost + BUDGET_Z·se', () => {
    // se 0.2 $/1k at λ=10 and 0.1 at λ=30: upper bounds 2.329 and 0.6645.
    const withSe = SWEEP.map((p) => ({ ...p, cost1kSe: p.lambda === 10 ? 0.2 : p.lambda === 30 ? 0.1 : p.cost1k / 10 }));
    const op = chooseOperatingPoint(withSe, { maxCost1k: 1.5 });
    expect([op.lambda, op.mixWith]).toEqual([30, 10]);
    const lo = 0.5 + BUDGET_Z * 0.1, hi = 2 + BUDGET_Z * 0.2;
    const share = (1.5 - lo) / (hi - lo);
    expect(op.share).toBeCloseTo(share, 12);
    // The bound is spent exactly; the expected cost is below the budget by the margin.
    expect(op.cost1kUpper).toBeCloseTo(1.5, 12);
    expect(op.cost1k).toBeCloseTo(0.5 + share * 1.5, 12);
    expect(op.cost1k).toBeLessThan(1.5 - BUDGET_Z * 0.1);
    expect(op.quality).toBeCloseTo(0.8 + share * 0.06, 12);
    expect(op.text).toMatch(/its 95% upper bound \$1\.50\)$/);
    // Without standard errors the point is the one of the means, as before.
    expect(chooseOperatingPoint(SWEEP, { maxCost1k: 1.5 }).cost1kUpper).toBeUndefined();
    // A quality floor is not a budget: the errors on the costs do not move it.
    expect(chooseOperatingPoint(withSe, { minQuality: 0.85 }).share).toBeCloseTo(chooseOperatingPoint(SWEEP, { minQuality: 0.85 }).share, 12);
  });

  it('a quality floor takes the least cost that reaches it (mixed when between points)', () => {
    const op = chooseOperatingPoint(SWEEP, { minQuality: 0.85 });
    expect([op.lambda, op.mixWith]).toEqual([30, 10]);
    expect(op.quality).toBeCloseTo(0.85, 12);
    expect(op.cost1k).toBeCloseTo(0.5 + (5 / 6) * 1.5, 12);
    expect(chooseOperatingPoint(SWEEP, { minQuality: 0.95 })).toMatchObject({ lambda: 0, met: false });
  });

  it('refuses a target that is neither or both, naming it', () => {
    expect(() => chooseOperatingPoint(SWEEP, {})).toThrow(/exactly one of maxCost1k or minQuality/);
    expect(() => chooseOperatingPoint(SWEEP, { maxCost1k: 1, minQuality: 0.5 })).toThrow(/exactly one of maxCost1k or minQuality/);
    expect(() => chooseOperatingPoint(SWEEP, { maxCost1k: -1 })).toThrow(/target\.maxCost1k/);
  });
});

describe('train --auto with a cost target', () => {
  function priced(n: number): OutcomeRecord[] {
    return Array.from({ length: n }, (_, i) => {
      const hard = i % 3 === 0;
      return {
        id: `p${i}`,
        prompt: hard ? `prove the theorem about primes number ${i}` : `say hello to friend ${i}`,
        scores: { big: 1, small: hard ? 0 : 1, mid: hard ? (i % 2 ? 1 : 0) : 1 },
        costs: { big: 0.01, small: 0.0005, mid: 0.002 },
      };
    });
  }

  it('calibrates λ on the out-of-fold sweep and stores the point; refuses a target without costs', { timeout: 180_000 }, async () => {
    const { router, auto } = await train(priced(150), { auto: { folds: 3, workers: 0, memberSets: [['lin']], betas: [1], costTarget: { maxCost1k: 3 } } });
    try {
      const op = auto!.operatingPoint!;
      expect(op).toBeDefined();
      expect(op.cost1k).toBeLessThanOrEqual(3 + 1e-9);
      expect(op.met).toBe(true);
      const lam = auto!.cvSweep!.filter((p) => p.param === 'lambda').map((p) => p.knob);
      expect(lam).toContain(op.lambda);
    } finally {
      router.dispose();
    }
    const noCosts = priced(30).map(({ costs: _c, ...r }) => r);
    await expect(train(noCosts, { auto: { folds: 3, workers: 0, memberSets: [['lin']], costTarget: { maxCost1k: 1 } } })).rejects.toThrow(/^Expected unset, or objective "aiq" \(a cost target needs per-query costs and the cost sweep; the objective is "quality"\) for options\.auto\.costTarget but received/);
  });
});
