import { describe, expect, it } from 'vitest';

import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

// Two topics with disjoint vocabularies; "algebra-model" solves one, "history-model" the other.
const MATH = ['integral', 'derivative', 'equation', 'polynomial', 'fraction', 'algebra', 'matrix', 'sum'];
const HIST = ['emperor', 'dynasty', 'treaty', 'revolution', 'kingdom', 'medieval', 'empire', 'pharaoh'];
function records() {
  const out = [];
  for (let i = 0; i < 120; i++) {
    const pick = (w: string[]) => `${w[i % 8]} ${w[Math.floor(i / 8) % 8]} ${w[(i * 3 + 1) % 8]}`;
    out.push({ id: `m${i}`, prompt: pick(MATH), scores: { 'algebra-model': 1, 'history-model': 0 } });
    out.push({ id: `h${i}`, prompt: pick(HIST), scores: { 'algebra-model': 0, 'history-model': 1 } });
  }
  return out;
}

describe('kmeans predictor (clustering router)', () => {
  it('routes each cluster to the model that solved its training members, and round-trips', async () => {
    const { router } = await train(records(), { predictor: 'kmeans', clusters: 2, restarts: 5, encoder: { log2Buckets: 12 } });
    expect(router.predictor).toBe('kmeans');
    const a = router.routeSync('matrix equation sum');
    const h = router.routeSync('treaty of the medieval kingdom');
    expect(a.model).toBe('algebra-model');
    expect(a.scores['algebra-model']).toBeCloseTo(1, 6);
    expect(h.model).toBe('history-model');
    const batch = await router.routeBatch(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'dynasty empire' : 'fraction polynomial')));
    expect(batch.map((d) => d.model)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'history-model' : 'algebra-model')));
    const again = Router.loadSync(router.serialize({ halfPrecision: true }));
    expect(again.routeSync('matrix equation sum').scores).toEqual(a.scores);
    expect(again.metadata()['predictor.clusters']).toBe('2');
    again.dispose();
    router.dispose();
  });

  it('refuses bad kmeans options with the option named', async () => {
    await expect(train(records(), { predictor: 'kmeans', clusters: 0 })).rejects.toThrow('options.clusters must be in [1, 4096], got 0');
    await expect(train(records(), { predictor: 'svm' as never })).rejects.toThrow('Expected "mlp", "linear", "mf", "knn", "kmeans" for options.predictor but received string "svm"');
  });
});
