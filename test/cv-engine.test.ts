/**
 * The cross-validation engine that `train --auto` and the results page's fixed grids share
 * (src/training/auto.ts: cvFolds, outOfFoldScores, bestByCv): folds partition the records by id,
 * each fold's scores land on that fold's rows in the caller's model order, a refused job makes its
 * spec incomplete, and a really trained member gives the scores of the same job run by hand.
 */
import { describe, expect, it } from 'vitest';

import { JobPool, bestByCv, cvFolds, oofKey, outOfFoldScores, runAutoJob, type OofCache } from '../src/training/auto.js';
import type { OutcomeRecord } from '../src/training/data.js';
import { fnv1a32 } from '../src/training/hash.js';

function records(n: number): OutcomeRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    prompt: i % 2 ? `tell me about cats and more cats ${i}` : `solve the equation x + ${i} = ${2 * i}`,
    scores: { a: i % 2 ? 1 : 0, b: i % 2 ? 0 : 1 },
  }));
}

/** A cache that remembers every key it was asked for and answers from a map. */
function memoryCache(): OofCache & { asked: string[]; store: Map<string, { models: string[]; scores: Float32Array }> } {
  const store = new Map<string, { models: string[]; scores: Float32Array }>();
  const asked: string[] = [];
  return {
    asked,
    store,
    get: (k) => {
      asked.push(k);
      return store.get(k);
    },
    set: (k, v) => {
      store.set(k, v);
    },
  };
}

describe('cvFolds', () => {
  it('puts each record in the fold fnv1a32(salt + id) mod k, its test rows once and the rest as training', () => {
    const recs = records(40);
    const { fold, folds } = cvFolds(recs, 4, 'inner/');
    for (const [i, r] of recs.entries()) expect(fold[i]).toBe(fnv1a32(`inner/${r.id}`) % 4);
    const seen = folds.flatMap((f) => f.test).sort((x, y) => x - y);
    expect(seen).toEqual(recs.map((_, i) => i));
    for (const f of folds) {
      expect(f.tr).toHaveLength(recs.length - f.test.length);
      expect(f.tr.every((r) => fold[recs.indexOf(r)] !== f.f)).toBe(true);
      expect(f.prompts).toEqual(f.test.map((i) => recs[i]!.prompt));
    }
  });

  it('leaves out folds without test rows', () => {
    const { folds } = cvFolds(records(2), 20, '');
    expect(folds.length).toBeLessThanOrEqual(2);
    expect(folds.every((f) => f.test.length > 0)).toBe(true);
  });
});

describe('outOfFoldScores', () => {
  it('scatters each fold\'s scores onto its rows in the caller\'s model order, from the cache', async () => {
    const recs = records(30);
    const { folds } = cvFolds(recs, 3, '');
    const cache = memoryCache();
    const spec = { key: 'lin@1', name: 'lin', options: { predictor: 'linear' as const, seed: 1 }, alpha: 1 };
    // Cached answers with the columns in the other order (b, a): row i scores b = i, a = −i.
    for (const f of folds) {
      const s = new Float32Array(f.test.length * 2);
      f.test.forEach((i, t) => {
        s[t * 2] = i;
        s[t * 2 + 1] = -i;
      });
      cache.store.set(oofKey(spec.options, 1, f.tr, f.prompts), { models: ['b', 'a'], scores: s });
    }
    const pool = new JobPool(0);
    try {
      const done: number[] = [];
      const out = await outOfFoldScores(recs, ['a', 'b'], folds, [spec], pool, { cache, onFold: (_, f) => done.push(f) });
      expect(out.incomplete.size).toBe(0);
      const m = out.scores.get('lin@1')!;
      recs.forEach((_, i) => {
        expect(m[i * 2]).toBe(-i);
        expect(m[i * 2 + 1]).toBe(i);
      });
      expect(done.sort()).toEqual(folds.map((f) => f.f).sort());
    } finally {
      await pool.close();
    }
  });

  it('a spec whose job the gate refuses is incomplete; a trained one equals the same job run by hand', async () => {
    const recs = records(24);
    const { folds } = cvFolds(recs, 2, '');
    const pool = new JobPool(0);
    try {
      const spec = { key: 'lin@1', name: 'lin', options: { predictor: 'linear' as const, seed: 1, maxEpochs: 2 }, alpha: 1 };
      const refused = await outOfFoldScores(recs, ['a', 'b'], folds, [spec], pool, { gate: () => false });
      expect([...refused.incomplete]).toEqual(['lin@1']);
      expect(refused.scores.size).toBe(0);
      const cache = memoryCache();
      const out = await outOfFoldScores(recs, ['a', 'b'], folds, [spec], pool, { cache });
      const f0 = folds[0]!;
      const byHand = await runAutoJob({ train: f0.tr, options: spec.options, alpha: 1, prompts: f0.prompts, keep: false, threads: 1 });
      const m = out.scores.get('lin@1')!;
      const ca = byHand.models.indexOf('a'), cb = byHand.models.indexOf('b');
      f0.test.forEach((i, t) => {
        expect(m[i * 2]).toBeCloseTo(byHand.scores[t * 2 + ca]!, 6);
        expect(m[i * 2 + 1]).toBeCloseTo(byHand.scores[t * 2 + cb]!, 6);
      });
      // Stored under the key the results page and train --auto both use.
      expect(cache.store.has(oofKey(spec.options, 1, f0.tr, f0.prompts))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('bestByCv', () => {
  it('picks the best finite value, the earlier on a tie within 1e-9, −1 when none is finite', () => {
    expect(bestByCv([0.5, 0.7, 0.7 + 1e-12, 0.6])).toBe(1);
    expect(bestByCv([NaN, 0.1, Infinity])).toBe(1);
    expect(bestByCv([NaN])).toBe(-1);
    expect(bestByCv([])).toBe(-1);
  });
});
