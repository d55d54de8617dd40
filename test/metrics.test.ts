import { describe, expect, it } from 'vitest';
import { aiq, apgr, convexHull, cpt, pgrCurve, type PgrPoint } from '../src/evaluation/metrics.js';
import { caught, expectInvalid } from './helpers/index.js';

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

// Hand-made example, 5 prompts:
//   strong = [1, 0, 1, 0, 1]  mean 0.6
//   weak   = [0, 1, 1, 0, 0]  mean 0.4   → gap 0.2 (total 1 over 5 prompts)
// Perfect router, routeScore = strong − weak = [1, −1, 0, 0, 1]; order by score desc, ties by index:
//   prompts 0, 4, 2, 3, 1 with gains +1, +1, 0, 0, −1
//   k strong:   0    1    2    3    4    5
//   share:      0   .2   .4   .6   .8    1
//   total gain: 0    1    2    2    2    1     PGR = gain / 1
//   quality = (2 + gain) / 5: .4, .6, .8, .8, .8, .6
// APGR = .2 × ((0+1)/2 + (1+2)/2 + (2+2)/2 + (2+2)/2 + (2+1)/2) = .2 × 7.5 = 1.5
// (above 1: sending prompt 1 to the weak model beats the strong model everywhere).
const STRONG = [1, 0, 1, 0, 1];
const WEAK = [0, 1, 1, 0, 0];
const PERFECT = STRONG.map((s, i) => s - WEAK[i]!);

describe('pgrCurve', () => {
  it('computes the hand-made perfect-router curve', () => {
    const curve = pgrCurve(STRONG, WEAK, PERFECT, 5);
    expect(curve.map((p) => p.strongShare)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(curve.map((p) => p.pgr)).toEqual([0, 1, 2, 2, 2, 1]);
    const q = curve.map((p) => p.quality);
    for (const [i, v] of [0.4, 0.6, 0.8, 0.8, 0.8, 0.6].entries()) expect(q[i]).toBeCloseTo(v, 12);
  });

  it('reports the share actually achieved on the default 100-step grid', () => {
    const curve = pgrCurve(STRONG, WEAK, PERFECT);
    expect(curve).toHaveLength(101);
    expect(curve[0]).toEqual({ strongShare: 0, quality: 0.4, pgr: 0 });
    // 0.3 × 5 = 1.5 rounds to 2 prompts.
    expect(curve[30]!.strongShare).toBe(0.4);
    expect(curve[100]!.pgr).toBe(1);
  });

  it('counts tied routeScores at their mean gain (the expectation over their order)', () => {
    const curve = pgrCurve([0, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5], 3);
    // One run of three ties with gains 0, 1, 1 (total 2): each counts 2/3 whatever the row order.
    const pgr = curve.map((p) => p.pgr);
    for (const [i, v] of [0, 1 / 3, 2 / 3, 1].entries()) expect(pgr[i]).toBeCloseTo(v, 12);
    const reversed = pgrCurve([1, 1, 0], [0, 0, 0], [0.5, 0.5, 0.5], 3).map((p) => p.pgr);
    for (const [i, v] of pgr.entries()) expect(reversed[i]).toBeCloseTo(v, 12);
    // A constant router is random routing: APGR 0.5 (index order would give 0.25 here).
    expect(apgr(curve)).toBeCloseTo(0.5, 12);
    // Ties only within a run: the perfect router's curve is unchanged where scores differ.
    const partial = pgrCurve([1, 0, 1, 0], [0, 0, 0, 0], [2, 1, 1, 0], 4).map((p) => p.pgr);
    for (const [i, v] of [0, 0.5, 0.75, 1, 1].entries()) expect(partial[i]).toBeCloseTo(v, 12);
  });

  it('accepts typed arrays', () => {
    const curve = pgrCurve(Float32Array.from(STRONG), Float64Array.from(WEAK), Int8Array.from(PERFECT), 5);
    expect(apgr(curve)).toBeCloseTo(1.5, 12);
  });

  it('refuses equal strong and weak means: PGR is undefined', () => {
    const err = caught(() => pgrCurve([1, 0], [0, 1], [1, 0]));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
    expect(err.message).toBe(
      'PGR is undefined: the strong and weak models have the same mean score (0.5000) on these 2 prompts, so there is no gap to recover',
    );
  });

  it('validates its arguments', () => {
    expectInvalid(() => pgrCurve([], [], []), 'Expected a non-empty array of scores for strong but received array of length 0');
    expectInvalid(() => pgrCurve([1, 0], [0], [1, 0]), 'Expected an array of length 2 (one value per prompt, like strong) for weak but received array of length 1');
    expectInvalid(() => pgrCurve([1, 0], [0, 0], [1, NaN]), 'Expected a finite number for routeScore[1] but received NaN');
    expectInvalid(() => pgrCurve('10' as unknown as number[], [0, 0], [1, 0]), 'Expected an array or typed array of numbers for strong but received string "10"');
    expectInvalid(() => pgrCurve([1, 0], [0, 0], [1, 0], 0), 'Expected an integer in [1, 1000000] for steps but received number 0');
    expectInvalid(() => pgrCurve([1, 0], [0, 0], [1, 0], 2.5), 'Expected an integer in [1, 1000000] for steps but received number 2.5');
  });
});

describe('apgr', () => {
  it('is 1.5 for the hand-made perfect router, on any grid', () => {
    expect(apgr(pgrCurve(STRONG, WEAK, PERFECT, 5))).toBeCloseTo(1.5, 12);
    expect(apgr(pgrCurve(STRONG, WEAK, PERFECT))).toBeCloseTo(1.5, 12);
  });

  it('is −0.5 for the inverted router', () => {
    // Order 1, 2, 3, 0, 4: gains −1, 0, 0, +1, +1 → PGR 0, −1, −1, −1, 0, 1
    // area = .2 × (−.5 − 1 − 1 − .5 + .5) = −0.5
    expect(apgr(pgrCurve(STRONG, WEAK, PERFECT.map((x) => -x), 5))).toBeCloseTo(-0.5, 12);
  });

  it('is about 0.5 for random routing', () => {
    const rnd = lcg(7);
    const n = 20000;
    const strong = Array.from({ length: n }, () => (rnd() < 0.8 ? 1 : 0));
    const weak = Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0));
    const route = Array.from({ length: n }, () => rnd());
    expect(Math.abs(apgr(pgrCurve(strong, weak, route)) - 0.5)).toBeLessThan(0.02);
  });

  it('validates the curve', () => {
    expectInvalid(() => apgr([{ strongShare: 0, quality: 0, pgr: 0 }]), 'Expected an array of at least 2 PGR points (from pgrCurve) for curve but received array of length 1');
    const unsorted: PgrPoint[] = [
      { strongShare: 0.5, quality: 0, pgr: 0 },
      { strongShare: 0.2, quality: 0, pgr: 0 },
    ];
    expectInvalid(() => apgr(unsorted), "Expected a value >= the previous point's 0.5 (points sorted by share) for curve[1].strongShare but received number 0.2");
    expectInvalid(() => apgr([{ strongShare: 0, quality: 0, pgr: 0 }, { strongShare: 1, quality: 0, pgr: NaN }]), 'Expected a finite number for curve[1].pgr but received NaN');
    expectInvalid(() => apgr([null, null] as unknown as PgrPoint[]), 'Expected a { strongShare, pgr } point for curve[0] but received null');
  });
});

describe('cpt', () => {
  const curve = pgrCurve(STRONG, WEAK, PERFECT, 5);

  it('returns the smallest strong share reaching the target', () => {
    expect(cpt(curve, 0.5)).toBe(0.2);
    expect(cpt(curve, 1)).toBe(0.2);
    expect(cpt(curve, 1.5)).toBe(0.4);
    expect(cpt(curve, 0)).toBe(0);
  });

  it('tolerates rounding just below the target', () => {
    const c: PgrPoint[] = [
      { strongShare: 0, quality: 0, pgr: 0 },
      { strongShare: 0.3, quality: 0, pgr: 0.7999999999999 },
      { strongShare: 1, quality: 0, pgr: 1 },
    ];
    expect(cpt(c, 0.8)).toBe(0.3);
  });

  it('returns null for an unreachable target', () => {
    expect(cpt(curve, 2.5)).toBeNull();
  });

  it('validates its arguments', () => {
    expectInvalid(() => cpt(curve, NaN), 'Expected a finite number such as 0.5 for targetPgr but received NaN');
    expectInvalid(() => cpt([], 0.5), 'Expected an array of at least 1 PGR points (from pgrCurve) for curve but received array of length 0');
  });
});

// Three single models (the zero router's points): A($1, .5), B($2, .6), C($4, .9).
// B lies below the segment A–C (at cost 2 it gives .5 + .4/3 = .633 > .6), so the hull is A–C.
// AIQ over [1, 4] = trapezoid (.5 + .9)/2 × 3 / 3 = 0.7.
const A = { cost: 1, quality: 0.5 };
const B = { cost: 2, quality: 0.6 };
const C = { cost: 4, quality: 0.9 };

describe('convexHull', () => {
  it('drops points below the hull and dominated points', () => {
    const D = { cost: 5, quality: 0.85 }; // dearer and worse than C
    const E = { cost: 1, quality: 0.3 }; // same cost as A, worse
    expect(convexHull([C, D, B, E, A])).toEqual([A, C]);
  });

  it('keeps points above the chord', () => {
    const G = { cost: 3, quality: 0.85 }; // chord A–C gives .767 at cost 3
    expect(convexHull([A, B, C, G])).toEqual([A, G, C]);
  });

  it('drops collinear middle points and handles a single point', () => {
    expect(convexHull([{ cost: 0, quality: 0 }, { cost: 1, quality: 1 }, { cost: 2, quality: 2 }])).toEqual([
      { cost: 0, quality: 0 },
      { cost: 2, quality: 2 },
    ]);
    expect(convexHull([A])).toEqual([A]);
  });

  it('does not modify its input', () => {
    const pts = [C, B, A];
    convexHull(pts);
    expect(pts).toEqual([C, B, A]);
  });

  it('validates points', () => {
    expectInvalid(() => convexHull([]), 'Expected a non-empty array of { cost, quality } points for points but received array of length 0');
    expectInvalid(() => convexHull([A, { cost: NaN, quality: 1 }]), 'Expected a finite number for points[1].cost but received NaN');
    expectInvalid(() => convexHull([{ cost: 1 } as { cost: number; quality: number }]), 'Expected a finite number for points[0].quality but received undefined');
  });
});

describe('aiq', () => {
  it('is 0.7 for the three-model zero router over [1, 4]', () => {
    expect(aiq([A, B, C], [1, 4])).toBeCloseTo(0.7, 12);
  });

  it('extends the hull flat to the right at its best quality', () => {
    // [1, 6]: 2.1 under A–C, then .9 × 2 → 3.9 / 5 = 0.78
    expect(aiq([A, B, C, { cost: 5, quality: 0.85 }], [1, 6])).toBeCloseTo(0.78, 12);
  });

  it('counts nothing left of the cheapest point', () => {
    // [0, 4]: 0 over [0, 1], 2.1 over [1, 4] → 2.1 / 4
    expect(aiq([A, B, C], [0, 4])).toBeCloseTo(0.525, 12);
    expect(aiq([A], [0, 2])).toBeCloseTo(0.25, 12);
  });

  it('integrates a range inside one hull segment', () => {
    // A–C at cost 2 is .6333…, at 3 .7666…: mean .7
    expect(aiq([A, C], [2, 3])).toBeCloseTo(0.7, 12);
  });

  it('rates a router above the zero router when its hull lies above', () => {
    const router = [A, { cost: 2, quality: 0.8 }, C];
    expect(aiq(router, [1, 4])).toBeGreaterThan(aiq([A, B, C], [1, 4]));
  });

  it('validates the cost range', () => {
    expectInvalid(() => aiq([A], [2, 1]), 'Expected a finite number greater than costRange[0] (2) for costRange[1] but received number 1');
    expectInvalid(() => aiq([A], [NaN, 1]), 'Expected a finite number for costRange[0] but received NaN');
    expectInvalid(() => aiq([A], [1] as unknown as [number, number]), 'Expected a [lo, hi] pair of finite numbers with lo < hi for costRange but received array of length 1');
  });
});
