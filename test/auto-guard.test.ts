/**
 * `train --auto` against data whose answer is known:
 * - **many models, one dominant** (50 models, one right on ~97% of prompts, the others' scores
 *   noise around lower means): the guard must not be fooled by the best of many noisy candidates
 *   and must keep the dominant model, for several seeds;
 * - **local structure** (prompts in clusters of their own vocabulary, a different model best in
 *   each): kNN (the TF-IDF reference and the grid's knn20) must find it and beat the best single
 *   model by far; with each model scored on a quarter of the rows only, the scaled k of `knnK`
 *   keeps the grid's knn near the reference.
 * Also the TF-IDF baselines' pieces (ridge by conjugate gradients against the normal equations
 * solved directly, kNN's per-model neighbours) and `procedureGain` on a hand-made table.
 */
import { describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { train } from '../src/training/train.js';
import { evaluateScores } from '../src/evaluation/eval.js';
import { autoLog2Buckets, knnDim, knnK, procedureGain, rowBootstrapSe } from '../src/training/auto.js';
import { baselineScores, knnScores, ridgeFit, ridgePredict, type CsrRows } from '../src/training/baselines.js';
import { rng } from '../bench/corpus.js';

const T = 300_000;

/** 50 models: M0 right on ~97% of prompts, M1..M49 right with a probability of 0.3–0.9 plus a topic tilt of ±0.05. */
function dominant(n: number, seed: number, idPrefix: string): OutcomeRecord[] {
  const r = rng(seed);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'theta', 'zeta', 'lambda'];
  // M1–M9 behind (0.86–0.92): noise in their scores is what a biased guard mistakes for a gain.
  const base = Array.from({ length: 50 }, (_, j) => (j === 0 ? 0.97 : j < 10 ? 0.86 + (0.06 * (j - 1)) / 8 : 0.3 + (0.6 * ((j * 37) % 40)) / 39));
  return Array.from({ length: n }, (_, i) => {
    const topic = Math.floor(r() * words.length);
    const prompt = `${words[topic]} question ${r().toString(36).slice(2, 8)} about ${words[Math.floor(r() * words.length)]} ${i % 7}`;
    const scores: Record<string, number> = {};
    for (let j = 0; j < 50; j++) {
      const tilt = j < 10 ? 0 : (j + topic) % 3 === 0 ? 0.05 : -0.02;
      scores[`M${j}`] = r() < base[j]! + tilt ? 1 : 0;
    }
    return { id: `${idPrefix}${seed}-${i}`, prompt, scores };
  });
}

const CLUSTERS = [
  ['integral', 'derivative', 'limit', 'calculus', 'tangent'],
  ['python', 'function', 'compile', 'variable', 'loop'],
  ['poem', 'rhyme', 'stanza', 'verse', 'sonnet'],
  ['protein', 'enzyme', 'cell', 'membrane', 'gene'],
];

/** Four clusters of prompts; model Ck is right on 90% of cluster k and 20% elsewhere; G is right on 55% everywhere. */
function clustered(n: number, seed: number, scoredShare = 1): OutcomeRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const c = i % 4;
    const w = CLUSTERS[c]!;
    const prompt = `${w[Math.floor(r() * 5)]} ${w[Math.floor(r() * 5)]} ${r().toString(36).slice(2, 7)} ${w[Math.floor(r() * 5)]}`;
    const scores: Record<string, number> = {};
    for (let k = 0; k < 4; k++) if (scoredShare >= 1 || r() < scoredShare) scores[`C${k}`] = r() < (k === c ? 0.9 : 0.2) ? 1 : 0;
    scores['G'] = r() < 0.55 ? 1 : 0;
    return { id: `c${seed}-${i}`, prompt, scores };
  });
}

describe('the guard judges the selection procedure (many models, one dominant)', () => {
  for (const seed of [1, 2, 3]) {
    it(`keeps the model that is right on ~97% of prompts among 50 (seed ${seed})`, { timeout: T }, async () => {
      const recs = dominant(400, seed, 'd');
      const { router, auto } = await train(recs, { seed, auto: { folds: 5, workers: 0, memberSets: [['lin'], ['ridge'], ['knn20'], ['mlp32']], objective: 'quality' } });
      try {
        expect(auto!.baseline.model).toBe('M0');
        expect(auto!.procedure).toBeDefined();
        expect(auto!.procedure!.folds).toHaveLength(5);
        // Whatever the winner's own (biased) CV gain, the routed decisions stay on M0.
        const test = dominant(300, seed + 100, 't');
        const decisions = test.map((t) => router.routeSync(t.prompt));
        const onM0 = decisions.filter((d) => d.model === 'M0').length / decisions.length;
        expect(onM0).toBeGreaterThanOrEqual(auto!.gain.verdict === 'gain' ? 0.97 : 1);
        if (auto!.gain.verdict === 'no gain') {
          expect(auto!.chosen.beta).toBe(0);
          expect(auto!.why).toMatch(/selection procedure/);
        }
      } finally {
        router.dispose();
      }
    });
  }
});

describe('procedureGain: the winner of the other folds, read on the held-out fold', () => {
  it('picks per fold without that fold and reports the held-out gain', () => {
    // A is lucky on fold 0 only; B is steadily a little better than the baseline.
    const cands = [
      { name: 'A', folds: [0.9, 0.5, 0.5, 0.5] },
      { name: 'B', folds: [0.56, 0.56, 0.56, 0.56] },
    ];
    const base = [0.5, 0.5, 0.5, 0.5];
    const p = procedureGain(cands, base);
    // Fold 0 held out: B wins on the others (0.56 > 0.5). Folds 1–3 held out: A's mean 0.633 > 0.56, read there at 0.5.
    expect(p.picks).toEqual(['B', 'A', 'A', 'A']);
    expect(p.folds.map((x) => +x.toFixed(3))).toEqual([0.06, 0, 0, 0]);
    expect(p.mean).toBeCloseTo(0.015, 6);
    expect(p.se).toBeCloseTo(0.015, 6);
  });
});

describe('rowBootstrapSe: the standard error of a mean of fold gains, from the test rows', () => {
  it('matches the analytic standard error of a mean of per-row gains', () => {
    const r = rng(3);
    const v = Array.from({ length: 900 }, () => (r() < 0.3 ? 1 : 0) - (r() < 0.5 ? 1 : 0));
    const folds = [Array.from({ length: 300 }, (_, i) => i), Array.from({ length: 600 }, (_, i) => 300 + i)];
    const meanOf = (rows: readonly number[]): number => rows.reduce((a, i) => a + v[i]!, 0) / rows.length;
    const varOf = (rows: readonly number[]): number => {
      const m = meanOf(rows);
      return rows.reduce((a, i) => a + (v[i]! - m) ** 2, 0) / rows.length;
    };
    const analytic = Math.sqrt(varOf(folds[0]!) / 300 + varOf(folds[1]!) / 600) / 2;
    const se = rowBootstrapSe(folds, (_, rows) => meanOf(rows), 400, 1);
    expect(se).toBeGreaterThan(0.85 * analytic);
    expect(se).toBeLessThan(1.15 * analytic);
    // Seeded: the same figure on every run.
    expect(rowBootstrapSe(folds, (_, rows) => meanOf(rows), 400, 1)).toBe(se);
  });

  it('is infinite without folds or when a fold\'s gain is undefined on (almost) every resample', () => {
    expect(rowBootstrapSe([], () => 0)).toBe(Infinity);
    expect(rowBootstrapSe([[0, 1, 2]], () => NaN, 20)).toBe(Infinity);
  });
});

describe('the winner\'s curse, and what procedureGain does about it', () => {
  it('with 200 candidates of no real gain, the winner\'s own gain often looks real; the procedure\'s rarely', () => {
    const r = rng(7);
    const gauss = (): number => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
    let fooledWinner = 0, fooledProcedure = 0;
    const tables = 200;
    for (let t = 0; t < tables; t++) {
      const base = [0.7, 0.72, 0.69, 0.71, 0.7];
      const cands = Array.from({ length: 200 }, (_, x) => ({ name: `c${x}`, folds: base.map((b) => b + 0.01 * gauss()) }));
      // The winner's gain over folds, as the old guard judged it (mean − 2·se > 0).
      const means = cands.map((c) => c.folds.reduce((a, v) => a + v, 0) / 5);
      const w = cands[means.indexOf(Math.max(...means))]!;
      const g = w.folds.map((v, q) => v - base[q]!);
      const gm = g.reduce((a, v) => a + v, 0) / 5;
      const gse = Math.sqrt(g.reduce((a, v) => a + (v - gm) ** 2, 0) / 4 / 5);
      if (gm - 2 * gse > 0) fooledWinner++;
      const p = procedureGain(cands, base);
      if (p.mean - 3 * p.se > 0) fooledProcedure++;
    }
    // Three standard errors of the spread of the procedure's fold gains (the guard's first bar, see
    // GUARD_SE) pass pure noise about 8% of the time; the winner's own gain at 2 se nearly always.
    expect(fooledWinner).toBeGreaterThan(0.75 * tables);
    expect(fooledProcedure).toBeLessThanOrEqual(0.13 * tables);
  });
});

describe('kNN finds local structure (clusters whose best model differs)', () => {
  const trainRecs = clustered(480, 1);
  const testRecs = clustered(240, 2);
  const models = ['C0', 'C1', 'C2', 'C3', 'G'];
  const quality = (s: Float32Array): number => evaluateScores(models, s, testRecs, { lambdas: [0] }).router.best.quality;

  it('the TF-IDF kNN and ridge references beat the best single model by far', { timeout: T }, async () => {
    const b = await baselineScores(trainRecs, testRecs.map((r) => r.prompt), models);
    const rep = evaluateScores(models, b.knn, testRecs, { lambdas: [0] });
    const single = rep.singles[rep.bestSingle]!.quality;
    expect(single).toBeLessThan(0.65);
    expect(quality(b.knn)).toBeGreaterThan(0.8);
    expect(quality(b.ridge)).toBeGreaterThan(0.8);
  });

  it('train --auto with knn20 finds it and routes by cluster', { timeout: T }, async () => {
    const { router, auto } = await train(trainRecs, { auto: { folds: 5, workers: 0, memberSets: [['knn20']], objective: 'quality' } });
    try {
      expect(auto!.gain.verdict).toBe('gain');
      expect(auto!.procedure!.mean).toBeGreaterThan(0.2);
      const decisions = testRecs.map((r) => router.routeSync(r.prompt));
      const right = decisions.filter((d, i) => d.model === `C${i % 4}`).length / decisions.length;
      expect(right).toBeGreaterThan(0.9);
    } finally {
      router.dispose();
    }
  });

  it('with each model scored on a quarter of the rows, the scaled k keeps knn near the reference', { timeout: T }, async () => {
    const sparse = clustered(800, 3, 0.25);
    const test = clustered(240, 4);
    const q = (s: Float32Array): number => evaluateScores(models, s, test, { lambdas: [0] }).router.best.quality;
    const ref = await baselineScores(sparse, test.map((r) => r.prompt), models);
    const share = 0.25 * (4 / 5) + 1 / 5; // four models on a quarter of the rows, G on all
    expect(knnK(20, share)).toBe(50);
    const scoresOf = async (k: number, dim?: number): Promise<Float32Array> => {
      const { router } = await train(sparse, { predictor: 'knn', k, dim });
      try {
        const s = await router.scores(test.map((r) => r.prompt));
        const out = new Float32Array(test.length * models.length);
        const cols = router.models.map((id) => models.indexOf(id));
        for (let i = 0; i < test.length; i++) {
          cols.forEach((j, c) => {
            out[i * models.length + j] = s[i * cols.length + c]!;
          });
        }
        return out;
      } finally {
        router.dispose();
      }
    };
    expect(knnDim(800)).toBe(1024);
    const scaled = q(await scoresOf(knnK(20, share), knnDim(800)));
    const plain = q(await scoresOf(20, 128));
    expect(q(ref.knn)).toBeGreaterThan(0.8);
    expect(scaled).toBeGreaterThan(q(ref.knn) - 0.03);
    expect(scaled).toBeGreaterThan(plain);
  });
});

describe('TF-IDF baseline pieces', () => {
  // Three rows over four buckets; model 1 misses row 2.
  const x: CsrRows = { rowStart: Uint32Array.from([0, 2, 4, 5]), index: Uint32Array.from([0, 1, 1, 2, 3]), value: Float32Array.from([0.6, 0.8, 0.8, 0.6, 1]) };
  const y = Float32Array.from([1, 0, 0, 1, 0.5, NaN]);

  it('ridge by conjugate gradients solves the normal equations of each model on the rows that score it', () => {
    const fit = ridgeFit(x, 4, y, ['a', 'b'], { penalty: 0.5, tol: 1e-10 });
    // Direct solve of (XᵀDX + 0.5 I) w = XᵀD(y − mean) for each model.
    const dense = [[0.6, 0.8, 0, 0], [0, 0.8, 0.6, 0], [0, 0, 0, 1]];
    for (let j = 0; j < 2; j++) {
      const rows = [0, 1, 2].filter((i) => Number.isFinite(y[i * 2 + j]!));
      const mean = rows.reduce((a, i) => a + y[i * 2 + j]!, 0) / rows.length;
      expect(fit.bias[j]).toBeCloseTo(mean, 6);
      const A = Array.from({ length: 4 }, (_, a) => Array.from({ length: 4 }, (_, b) => (a === b ? 0.5 : 0) + rows.reduce((s, i) => s + dense[i]![a]! * dense[i]![b]!, 0)));
      const rhs = Array.from({ length: 4 }, (_, a) => rows.reduce((s, i) => s + dense[i]![a]! * (y[i * 2 + j]! - mean), 0));
      // A·w must equal rhs.
      for (let a = 0; a < 4; a++) {
        const lhs = A[a]!.reduce((s, v, b) => s + v * fit.weight[b * 2 + j]!, 0);
        expect(lhs).toBeCloseTo(rhs[a]!, 5);
      }
    }
    const pred = ridgePredict(fit, x);
    expect(pred).toHaveLength(6);
  });

  it('kNN skips rows without a model\'s score for that model and weights by similarity', () => {
    const q: CsrRows = { rowStart: Uint32Array.from([0, 1]), index: Uint32Array.from([1]), value: Float32Array.from([1]) };
    const s = knnScores(x, y, 2, 4, q, 2);
    // Similarities 0.8, 0.8, 0: model a takes rows 0 and 1 (equal weights) → 0.5; model b has rows 0 and 1 → 0.5.
    expect(s[0]).toBeCloseTo(0.5, 5);
    expect(s[1]).toBeCloseTo(0.5, 5);
    const q2: CsrRows = { rowStart: Uint32Array.from([0, 1]), index: Uint32Array.from([3]), value: Float32Array.from([1]) };
    const s2 = knnScores(x, y, 2, 4, q2, 1);
    // Nearest row is 2 (similarity 1): model a reads it (0.5); model b skips it (no score) and takes a row at similarity 0.
    expect(s2[0]).toBeCloseTo(0.5, 5);
    expect([0, 1]).toContain(Math.round(s2[1]!));
  });
});

describe('a router file sized to its data', () => {
  it('scales the hashing table to the rows: 299 rows → 2^14 buckets, a file of a few MB', { timeout: T }, async () => {
    expect([autoLog2Buckets(299), autoLog2Buckets(1000), autoLog2Buckets(2225), autoLog2Buckets(50)]).toEqual([14, 15, 16, 12]);
    const recs = clustered(299, 9);
    const { router, auto } = await train(recs, { auto: { folds: 3, workers: 0, memberSets: [['lin', 'mlp32']], betas: [1], objective: 'quality' } });
    try {
      expect(auto!.chosen.members).toEqual(['lin', 'mlp32']);
      const bytes = router.serialize();
      // lin (2^14 × 5) + mlp32 (2^14 × 32) float32 tables ≈ 2.4 MB; with 2^16 buckets it was ≈ 9.7 MB.
      expect(bytes.length).toBeLessThan(3.5 * 2 ** 20);
      expect(bytes.length).toBeGreaterThan(1 * 2 ** 20);
    } finally {
      router.dispose();
    }
  });
});
