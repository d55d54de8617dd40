import { describe, expect, it } from 'vitest';

import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

// Two clusters in 16 dimensions; model "a" is right around +e0, model "b" around +e1.
function dataset(n: number) {
  const records = [];
  const x = new Float32Array(n * 16);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    records.push({ id: String(i), prompt: `p${i}`, scores: { a: c ? 0 : 1, b: c } });
    for (let j = 0; j < 16; j++) x[i * 16 + j] = (j === c ? 1 : 0) + Math.sin(i * 13 + j) * 0.1;
  }
  return { records, x };
}

describe('precomputed embeddings', () => {
  it('trains, routes each cluster to its model, and round-trips through a .router file', async () => {
    const { records, x } = dataset(300);
    const { router } = await train(records, { embeddings: x, hidden: 8, seed: 3 });
    expect(router.encoder).toBe('precomputed');
    expect(router.inputDim).toBe(16);
    const e0 = new Float32Array(16);
    e0[0] = 1;
    const e1 = new Float32Array(16);
    e1[1] = 1;
    expect(router.routeEmbeddingSync(e0).model).toBe('a');
    expect(router.routeEmbeddingSync(e1).model).toBe('b');
    const both = new Float32Array(32);
    both.set(e0, 0);
    both.set(e1, 16);
    const batch = await router.routeEmbeddings(both);
    expect(batch.map((d) => d.model)).toEqual(['a', 'b']);
    expect(batch[0]!.scores).toEqual(router.routeEmbeddingSync(e0).scores);
    const again = Router.loadSync(router.serialize());
    expect(again.routeEmbeddingSync(e1).scores).toEqual(router.routeEmbeddingSync(e1).scores);
    again.dispose();
    router.dispose();
  });

  it('refuses NaN, wrong sizes, and text on an embedding router', async () => {
    const { records, x } = dataset(40);
    const { router } = await train(records, { embeddings: x, hidden: 4, maxEpochs: 2 });
    const bad = new Float32Array(16);
    bad[5] = NaN;
    expect(() => router.routeEmbeddingSync(bad)).toThrow('embedding: embedding row 0, column 5 is NaN; embeddings must be finite');
    const inf = new Float32Array(32);
    inf[16 + 2] = Infinity;
    await expect(router.routeEmbeddings(inf)).rejects.toThrow('embedding row 1, column 2 is infinite');
    expect(() => router.routeEmbeddingSync(new Float32Array(3))).toThrow('this router takes 16-dimensional embeddings, got 3');
    expect(() => router.routeSync('hello')).toThrow('this router was trained on precomputed embeddings; pass embeddings, not text');
    try {
      router.routeEmbeddingSync(bad);
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    }
    const nanTrain = x.slice();
    nanTrain[7] = NaN;
    await expect(train(records, { embeddings: nanTrain, hidden: 4 })).rejects.toThrow('embedding row 0, column 7 is NaN');
    await expect(train(records, { embeddings: new Float32Array(41) })).rejects.toThrow('options.embeddings');
    router.dispose();
  });

  it('a text router refuses embeddings', async () => {
    const { records } = dataset(40);
    const { router } = await train(records, { hidden: 4, maxEpochs: 1, encoder: { log2Buckets: 10 } });
    expect(() => router.routeEmbeddingSync(new Float32Array(1024))).toThrow('this router encodes text itself (hashing encoder); pass prompts, not embeddings');
    router.dispose();
  });
});
