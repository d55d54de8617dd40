/**
 * TF-IDF kNN as a served router (src/routing/tfidf-knn.ts): the reference of ../shared/data/README.md
 * saved in a router file (training prompts + scores), loaded, and scored by routeSync / route /
 * scores exactly as `baselineScores` (what `eval --train` reports) scores it; a `train --auto`
 * candidate (`tfidf-knn`, opt-in) that wins where only local structure tells the models apart; and
 * every fault of a hostile file refused with ERR_ROUTECORE_BAD_ARTIFACT naming the field.
 */
import { describe, expect, it } from 'vitest';

import { binding } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { baselineScores, tfidfKnnRouter } from '../src/training/baselines.js';
import type { OutcomeRecord } from '../src/training/data.js';
import { KnnIndex, TFIDF_KNN_KEY, type CsrRows } from '../src/routing/tfidf-knn.js';
import { train } from '../src/training/train.js';
import { caught } from './helpers/index.js';

const T = 120_000;

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Filler words: random lowercase strings (no shared prefix or suffix, so few shared char n-grams). */
const FILLER = (() => {
  const r = rng(99);
  return Array.from({ length: 400 }, () => Array.from({ length: 7 }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join(''));
})();

/**
 * XOR structure no linear model on n-grams can learn: a prompt names one of two subjects and one of
 * two verbs, apart (filler words between them, so no bigram holds both); model A is right when the
 * pair is (s0, v0) or (s1, v1), model B on the other two. Each model alone is right half the time.
 */
function xorSet(n: number, seed: number, tag: string): OutcomeRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const s = r() < 0.5 ? 0 : 1, v = r() < 0.5 ? 0 : 1;
    const fill = [FILLER[Math.floor(r() * FILLER.length)]!];
    const prompt = `${s ? 'astronomy' : 'botany'} ${fill[0]} ${v ? 'summarize' : 'translate'}`;
    const aRight = s === v;
    return { id: `${tag}${i}`, prompt, scores: { A: aRight ? 1 : 0, B: aRight ? 0 : 1 } };
  });
}

/** `n` random sparse rows over `buckets` buckets, values of both signs (the hashing encoder's are signed), some repeated (ties). */
function randomRows(n: number, buckets: number, seed: number): CsrRows {
  const r = rng(seed);
  const rowStart = new Uint32Array(n + 1);
  const index: number[] = [], value: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 3) {
      // a copy of the row before: equal similarities, which the earlier row must win
      for (let e = rowStart[i - 1]!; e < rowStart[i]!; e++) {
        index.push(index[e]!);
        value.push(value[e]!);
      }
    } else {
      const nnz = Math.floor(r() * 30);
      for (let e = 0; e < nnz; e++) {
        // a few buckets past the index (the encoder's rows never have them; the index skips them)
        index.push(Math.floor(r() * (buckets + 2)));
        value.push(Math.fround((r() - 0.4) * 2));
      }
    }
    rowStart[i + 1] = index.length;
  }
  return { rowStart, index: Uint32Array.from(index), value: Float32Array.from(value) };
}

describe('KnnIndex: the similarity scatter in the addon', () => {
  const buckets = 64, M = 3;
  const train = randomRows(3000, buckets, 5);
  // Model 2 unscored on every fifth row: it gets its own neighbour list.
  const y = Float32Array.from({ length: 3000 * M }, (_, x) => (x % M === 2 && Math.floor(x / M) % 5 === 0 ? NaN : ((x * 7919) % 101) / 100));
  const queries = randomRows(1500, buckets, 6);

  it('scores bit for bit as the TypeScript scatter, on the calling thread and the addon\'s, in batches and alone', async () => {
    expect(binding().NativeSparseIndex).toBeDefined();
    const native = new KnnIndex(train, y, M, buckets, 20), typescript = new KnnIndex(train, y, M, buckets, 20, false);
    try {
      expect([native.native, typescript.native]).toEqual([true, false]);
      // 1,500 queries × 3,000 rows is more than one batch of similarities (4 Mi floats): two chunks.
      const expected = typescript.score(queries);
      expect(Array.from(native.score(queries))).toEqual(Array.from(expected));
      expect(Array.from(await native.scoreAsync(queries))).toEqual(Array.from(expected));
      // One query given as a window of the batch's row starts, as a router's micro-batch may be cut.
      const one = new Float32Array(M);
      await native.scoreAsync({ rowStart: queries.rowStart.subarray(700, 702), index: queries.index, value: queries.value }, one);
      expect(Array.from(one)).toEqual(Array.from(expected.subarray(700 * M, 701 * M)));
    } finally {
      native.dispose();
    }
    expect(caught(() => native.score(queries)).code).toBe('ERR_ROUTECORE_DISPOSED');
  });

  it('refuses query rows out of order, naming them', async () => {
    const native = new KnnIndex(train, y, M, buckets, 20);
    try {
      const bad = { rowStart: Uint32Array.of(0, 9, 3), index: queries.index, value: queries.value };
      expect(caught(() => native.score(bad)).message).toMatch(/query row start 2 is out of order or past the entries/);
      expect((await native.scoreAsync(bad).catch((e: Error) => e)).message).toMatch(/query row start 2 is out of order or past the entries/);
    } finally {
      native.dispose();
    }
  });
});

describe('TF-IDF kNN served from a router file', () => {
  const trainRecs = xorSet(400, 1, 'tr');
  const testRecs = xorSet(200, 2, 'te');

  it('train --auto keeps tfidf-knn where only the combination of two far-apart words tells A from B, and routes by it', { timeout: T }, async () => {
    const { router, auto } = await train(trainRecs, { auto: { folds: 5, workers: 0, memberSets: [['lin'], ['tfidf-knn']], objective: 'quality' } });
    try {
      expect(auto!.chosen.members).toEqual(['tfidf-knn']);
      expect(auto!.gain.verdict).toBe('gain');
      // lin cannot do better than a coin here; the kNN can.
      const right = testRecs.filter((t) => t.scores[router.routeSync(t.prompt).model] === 1).length / testRecs.length;
      expect(right).toBeGreaterThan(0.9);
      const again = Router.loadSync(new Uint8Array(router.serialize()));
      try {
        for (const t of testRecs.slice(0, 40)) expect(again.routeSync(t.prompt).model).toBe(router.routeSync(t.prompt).model);
      } finally {
        again.dispose();
      }
    } finally {
      router.dispose();
    }
  });

  it('saves, loads and scores exactly as the TF-IDF kNN reference of eval --train', { timeout: T }, async () => {
    // A one-neighbour knn router fits the encoder (as the --auto member does); tfidfKnnRouter makes it the kNN.
    const { router: base } = await train(trainRecs, { predictor: 'knn', k: 1, dim: 8, encoder: { log2Buckets: 18 } });
    const router = tfidfKnnRouter(base, trainRecs, 20);
    const prompts = testRecs.map((t) => t.prompt);
    const ref = await baselineScores(trainRecs, prompts, ['A', 'B']);
    const bytes = new Uint8Array(router.serialize());
    try {
      expect(router.models).toEqual(['A', 'B']);
      const file = JSON.parse(router.metadata()[TFIDF_KNN_KEY]!) as { k: number; prompts: string[] };
      expect(file.k).toBe(20);
      expect(file.prompts).toEqual(trainRecs.map((r) => r.prompt));
      const served = await router.scores(prompts);
      for (let x = 0; x < served.length; x++) expect(served[x]).toBeCloseTo(ref.knn[x]!, 6);
    } finally {
      router.dispose();
    }
    const loaded = await Router.load(bytes);
    try {
      const again = await loaded.scores(prompts);
      for (let x = 0; x < again.length; x++) expect(again[x]).toBeCloseTo(ref.knn[x]!, 6);
      for (const [i, t] of testRecs.entries()) {
        const best = ref.knn[i * 2]! >= ref.knn[i * 2 + 1]! ? 'A' : 'B';
        expect(loaded.routeSync(t.prompt).model).toBe(best);
      }
      expect((await loaded.route(prompts[0]!)).model).toBe(loaded.routeSync(prompts[0]!).model);
      // route() and scores() search on the addon's thread: the event loop turns while they run
      // (scored on this thread, no setImmediate could run before the promise settles).
      let turns = 0;
      const tick = (): void => {
        turns++;
        if (!done) setImmediate(tick);
      };
      let done = false;
      setImmediate(tick);
      const many = Array.from({ length: 20 }, () => prompts).flat();
      const offThread = await loaded.scores(many);
      done = true;
      expect(turns).toBeGreaterThan(0);
      for (let x = 0; x < again.length; x++) expect(offThread[x]).toBe(again[x]);
    } finally {
      loaded.dispose();
    }
  });

  it('refuses a hostile file, naming the field', { timeout: T }, async () => {
    const { router } = await train(trainRecs.slice(0, 60), { auto: { folds: 2, workers: 0, memberSets: [['tfidf-knn']], alphas: [1], betas: [1], objective: 'quality' } });
    const bytes = new Uint8Array(router.serialize());
    router.dispose();
    const withMeta = (value: string): Uint8Array => {
      const h = binding().NativeRouter.load(bytes, 'test', 'cpu', 1);
      try {
        h.setMetadata(TFIDF_KNN_KEY, value);
        return new Uint8Array(h.serialize());
      } finally {
        h.dispose();
      }
    };
    const probe = binding().NativeRouter.load(bytes, 'test', 'cpu', 1);
    const good = JSON.parse(probe.metadata()[TFIDF_KNN_KEY]!) as Record<string, unknown>;
    probe.dispose();
    const cases: [string, string][] = [
      ['{not json', `router file metadata "${TFIDF_KNN_KEY}": is not JSON`],
      ['[1]', 'is not an object'],
      [JSON.stringify({ ...good, version: 2 }), 'version must be 1, got 2'],
      [JSON.stringify({ ...good, k: 0 }), 'k must be an integer from 1 to 1000, got 0'],
      [JSON.stringify({ ...good, k: 2.5 }), 'k must be an integer from 1 to 1000, got 2.5'],
      [JSON.stringify({ ...good, prompts: [] }), 'prompts must be a non-empty array of strings'],
      [JSON.stringify({ ...good, prompts: [...(good['prompts'] as string[]).slice(1), 7] }), 'must be a string'],
      [JSON.stringify({ ...good, scores: (good['scores'] as unknown[]).slice(1) }), 'scores must be an array of 60 rows (one per prompt)'],
      [JSON.stringify({ ...good, scores: [[1], ...(good['scores'] as unknown[]).slice(1)] }), 'scores[0] must be an array of 2 numbers or nulls (one per model)'],
      [JSON.stringify({ ...good, scores: [['x', 1], ...(good['scores'] as unknown[]).slice(1)] }), 'scores[0][0] must be a finite number or null'],
    ];
    for (const [value, message] of cases) {
      const err = caught(() => Router.loadSync(withMeta(value)));
      expect(err.code).toBe('ERR_ROUTECORE_BAD_ARTIFACT');
      expect(err.message).toContain(message);
    }
    // Non-finite numbers cannot be JSON; nulls (no score) are fine.
    const nulls = JSON.stringify({ ...good, scores: (good['scores'] as (number | null)[][]).map((row, i) => (i % 2 ? [null, row[1]!] : row)) });
    const ok = Router.loadSync(withMeta(nulls));
    expect(['A', 'B']).toContain(ok.routeSync('botany w1q w2q summarize').model);
    ok.dispose();
  });

  it('a file whose ensemble member is a TF-IDF kNN router is refused (members are native predictors)', { timeout: T }, async () => {
    const { router: ens } = await train(trainRecs.slice(0, 80), { auto: { folds: 2, workers: 0, memberSets: [['lin', 'mlp32']], alphas: [1], betas: [1], objective: 'quality' } });
    const { router: base } = await train(trainRecs.slice(0, 80), { predictor: 'knn', k: 1, dim: 8, encoder: { log2Buckets: 18 } });
    const knn = tfidfKnnRouter(base, trainRecs.slice(0, 80), 20);
    const h = binding().NativeRouter.load(new Uint8Array(ens.serialize()), 'test', 'cpu', 1);
    ens.dispose();
    let bytes: Uint8Array;
    try {
      expect(h.metadata()['routecore.member.1']).toBeDefined();
      h.setMetadata('routecore.member.1', Buffer.from(knn.serialize()).toString('base64'));
      bytes = new Uint8Array(h.serialize());
    } finally {
      h.dispose();
      knn.dispose();
    }
    const err = caught(() => Router.loadSync(bytes));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_ARTIFACT');
    expect(err.message).toContain('ensemble member 1 is a TF-IDF kNN router');
  });

  it('train --auto refuses tfidf-knn inside an ensemble, with the set named', async () => {
    await expect(train(trainRecs, { auto: { memberSets: [['lin', 'tfidf-knn']] } })).rejects.toMatchObject({
      code: 'ERR_ROUTECORE_INVALID_ARGUMENT',
      message: expect.stringContaining('a set naming tfidf-knn alone (a TF-IDF kNN router is served alone, not as an ensemble member) for options.auto.memberSets[0]'),
    });
  });
});
