/**
 * `train(…, { auto })`: selection by cross-validation, the guard against doing worse than the best
 * single model, calibration, ensembles stored in one artifact, traffic data and weights.
 * Synthetic data with a known answer: on "signal" data model A is right on math prompts and B on
 * code prompts; on "noise" data the scores do not depend on the prompt at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { RoutecoreError } from '../src/errors.js';
import type { OutcomeRecord } from '../src/training/data.js';
import { Router } from '../src/app/router.js';
import { Registry } from '../src/routing/registry.js';
import { binding } from '../src/addon/native.js';
import { parsePostprocess, ScorePostprocess } from '../src/routing/postprocess.js';
import { train } from '../src/training/train.js';
import { fitPlatt } from '../src/training/calibration.js';
import { reliability } from '../src/evaluation/calibration.js';
import { evaluate } from '../src/evaluation/eval.js';
import { battlesToOutcomes, copiesOf, loadTrainingData, parseDataSpec, readOutcomeLog, weightRecords } from '../src/training/auto-data.js';
import { autoLog2Buckets, fitCostModel, fitHeader } from '../src/training/auto.js';
import { rng } from '../bench/corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'routecore-auto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MATH = ['integral', 'derivative', 'equation', 'prime', 'matrix', 'sum of the series', 'factor the polynomial'];
const CODE = ['python function', 'javascript class', 'sql query', 'regex', 'compile error', 'unit test', 'rust borrow checker'];

function signal(n: number, seed = 1): OutcomeRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const math = i % 2 === 0;
    const topic = (math ? MATH : CODE)[Math.floor(r() * 7)]!;
    const prompt = `${math ? 'Solve' : 'Write'} this: ${topic} number ${i} ${r().toString(36).slice(2, 6)}`;
    const a = math ? (r() < 0.9 ? 1 : 0) : r() < 0.3 ? 1 : 0;
    const b = math ? (r() < 0.35 ? 1 : 0) : r() < 0.9 ? 1 : 0;
    return { id: `s${i}`, task: math ? 'math' : 'code', prompt, scores: { A: a, B: b } };
  });
}

function noise(n: number, seed = 2): OutcomeRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i}`,
    prompt: `question ${i}: ${[...MATH, ...CODE][Math.floor(r() * 14)]} ${r().toString(36).slice(2, 7)}`,
    scores: { A: r() < 0.6 ? 1 : 0, B: r() < 0.5 ? 1 : 0, C: r() < 0.45 ? 1 : 0 },
  }));
}

const T = 180_000;
const FAST = { folds: 3, memberSets: [['lin'], ['knn20'], ['lin', 'knn20']], workers: 0 };

describe('train --auto: selection', () => {
  it('finds the signal, reports a CV gain with its fold spread, and routes by it', async () => {
    const recs = signal(240);
    const { router, auto } = await train(recs, { auto: { ...FAST, objective: 'quality' } });
    try {
      expect(auto).toBeDefined();
      expect(auto!.objective).toBe('quality');
      expect(auto!.gain.verdict).toBe('gain');
      expect(auto!.gain.folds).toHaveLength(3);
      expect(auto!.gain.mean).toBeGreaterThan(0.1);
      expect(auto!.chosen.beta).toBeGreaterThan(0);
      expect(auto!.chosen.name).toBe(auto!.best.name);
      expect(auto!.runnerUp).not.toBeNull();
      expect(auto!.why).toMatch(/above always calling/);
      // Both tasks have labels, so α = 0.5 and 0 are in the grid.
      expect(auto!.grid.alphas).toEqual([1, 0.5, 0]);
      // A shared calibration is one sigmoid for every model; per-model ones may differ.
      const cal = router.postprocess!.calibration!;
      if (auto!.chosen.cal === 'shared') expect(new Set(cal.a).size).toBe(1);
      expect(cal.a).toHaveLength(2);
      const math = router.routeSync('Solve this: integral number 9999 of x squared');
      const code = router.routeSync('Write this: python function number 9999 that sorts');
      expect(math.model).toBe('A');
      expect(code.model).toBe('B');
      // The report is in the artifact and survives a save and load.
      const file = join(dir, 'signal.router');
      await router.save(file);
      const back = Router.loadSync(file);
      try {
        expect(back.auto?.['chosen']).toEqual(auto!.chosen);
        const p = ['Solve this: prime number 77', 'Write this: sql query number 78', 'hello'];
        expect(Array.from(await back.scores(p))).toEqual(Array.from(await router.scores(p)));
      } finally {
        back.dispose();
      }
    } finally {
      router.dispose();
    }
  }, T);

  it('keeps every decision on the best single model when CV finds no gain', async () => {
    const { router, auto } = await train(noise(240), { auto: { ...FAST, objective: 'quality' } });
    try {
      expect(auto!.gain.verdict).toBe('no gain');
      expect(auto!.chosen.beta).toBe(0);
      expect(auto!.baseline.model).toBe('A');
      expect(auto!.why).toMatch(/keeps its decisions on A/);
      expect(router.postprocess?.beta).toBe(0);
      const ds = await router.routeBatch(['integral 1', 'python function 2', 'anything at all', 'regex 3']);
      for (const d of ds) expect(d.model).toBe('A');
    } finally {
      router.dispose();
    }
  }, T);

  it('gives the same result for the same seed and data', async () => {
    const recs = signal(150, 5);
    const a = await train(recs, { seed: 3, auto: { ...FAST, memberSets: [['lin']], objective: 'quality' } });
    const b = await train(recs, { seed: 3, auto: { ...FAST, memberSets: [['lin']], objective: 'quality' } });
    try {
      expect(b.auto!.chosen).toEqual(a.auto!.chosen);
      expect(b.auto!.gain).toEqual(a.auto!.gain);
      const p = recs.slice(0, 20).map((r) => r.prompt);
      expect(Array.from(await b.router.scores(p))).toEqual(Array.from(await a.router.scores(p)));
    } finally {
      a.router.dispose();
      b.router.dispose();
    }
  }, T);

  it('stores an ensemble as one artifact: the extra member in metadata, averaged when scoring', async () => {
    const recs = signal(180, 7);
    const { router, auto } = await train(recs, { auto: { ...FAST, memberSets: [['lin', 'knn20']], betas: [1], objective: 'quality' } });
    try {
      expect(auto!.chosen.members).toEqual(['lin', 'knn20']);
      expect(router.postprocess?.members).toBe(1);
      expect(router.metadata()['routecore.member.1']).toBeTypeOf('string');
      const file = join(dir, 'ens.router');
      await router.save(file);
      const back = Router.loadSync(file);
      try {
        const p = ['Solve this: matrix number 5', 'Write this: regex number 6'];
        const s1 = await back.scores(p);
        expect(Array.from(s1)).toEqual(Array.from(await router.scores(p)));
        // The synchronous path gives the same post-processed scores as the batch path.
        const d = back.routeSync(p[0]!);
        expect(d.scores['A']).toBeCloseTo(s1[0]!, 6);
      } finally {
        back.dispose();
      }
    } finally {
      router.dispose();
    }
  }, T);

  it('reports calibration on out-of-fold data and calibrated scores on held-out data', async () => {
    const recs = signal(300, 9);
    const { router, auto } = await train(recs.slice(0, 240), { auto: { ...FAST, memberSets: [['lin']], objective: 'quality' } });
    try {
      expect(auto!.calibration?.kind).toBe('platt');
      expect(auto!.calibration!.eceAfter).toBeLessThan(0.15);
      const rep = await evaluate(router, recs.slice(240));
      expect(rep.calibration.pairs).toBe(120);
      expect(rep.calibration.ece).toBeLessThan(0.2);
    } finally {
      router.dispose();
    }
  }, T);

  it('picks APGR for two models and AIQ with costs by default, and tries cost by prompt length', async () => {
    const recs = signal(120, 11).map((r) => ({ ...r, scores: { ...r.scores, C: 0.5 }, costs: { A: 0.01 + r.prompt.length * 1e-4, B: 0.001, C: 0.0001 } }));
    const { router, auto } = await train(recs, { auto: { ...FAST, memberSets: [['lin']], betas: [1] } });
    try {
      expect(auto!.objective).toBe('aiq');
      expect(auto!.costModel).not.toBeNull();
      expect(auto!.cvSweep!.length).toBeGreaterThan(5);
    } finally {
      router.dispose();
    }
    const two = await train(signal(90, 12), { auto: { ...FAST, memberSets: [['lin']] } });
    expect(two.auto!.objective).toBe('apgr');
    two.router.dispose();
  }, T);
});

describe('train --auto: cost by prompt text', () => {
  // A's price depends on the kind of prompt (its answers to math prompts are long), not on the
  // prompt's length; the scores do not depend on the prompt at all. Only a cost predicted from the
  // text lets the cost policy call A where it is cheap and B where A is dear.
  function priced(n: number, seed: number): OutcomeRecord[] {
    const r = rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const math = i % 2 === 0;
      const topic = (math ? MATH : CODE)[Math.floor(r() * 7)]!;
      return {
        id: `p${i}`,
        prompt: `Please ${topic} item ${i} ${r().toString(36).slice(2, 6)}`,
        scores: { A: r() < 0.9 ? 1 : 0, B: r() < 0.6 ? 1 : 0 },
        costs: { A: (math ? 0.02 : 0.001) * (0.9 + 0.2 * r()), B: 0.005 },
      };
    });
  }

  it('keeps a cost network when it wins the CV, and routes and evaluates with its predictions', async () => {
    const recs = priced(240, 21);
    const { router, auto } = await train(recs, { auto: { folds: 3, workers: 0, objective: 'aiq', memberSets: [['lin']], betas: [1] } });
    const file = join(dir, 'text-cost.router');
    try {
      expect(auto!.grid.costModels).toEqual(['mean', 'length', 'text']);
      expect(auto!.costModel).toMatchObject({ kind: 'text', kept: true });
      expect(auto!.costModel!.gain).toBeGreaterThan(0);
      expect(auto!.chosen.cost).toBe('text');
      expect(auto!.chosen.name).toMatch(/cost by prompt text/);
      expect(router.postprocess!.costNetwork!.mean).toHaveLength(2);
      const [math, code] = ['Please integral item 9999 zz', 'Please python function item 9999 zz'];
      const costs = (await router.predictedCosts([math, code]))!;
      const a = router.models.indexOf('A');
      // A on a math prompt is predicted several times dearer than on a code prompt.
      expect(costs[a]! / costs[2 + a]!).toBeGreaterThan(3);
      const opts = { policy: 'cost' as const, lambda: 40 };
      expect(router.routeSync(math, opts).model).toBe('B');
      expect(router.routeSync(code, opts).model).toBe('A');
      expect((await router.routeBatch([math, code], opts)).map((d) => d.model)).toEqual(['B', 'A']);
      expect((await router.route(code, opts)).expectedCost).toBeCloseTo(costs[2 + a]!, 6);
      // Other policies skip the cost network: their expected cost is the training mean.
      const meanA = router.training!.models['A']!.meanCost!;
      expect(router.routeSync(code, { policy: 'best' }).expectedCost).toBeCloseTo(meanA, 9);
      expect((await router.route(code)).expectedCost).toBeCloseTo(meanA, 9);
      await router.save(file);
    } finally {
      router.dispose();
    }
    const back = Router.loadSync(file);
    try {
      expect(back.routeSync('Please integral item 9999 zz', { policy: 'cost', lambda: 40 }).model).toBe('B');
      const rep = await evaluate(back, priced(60, 22), { lambdas: [0, 40] });
      const at40 = rep.router.sweep.find((p) => p.knob === 40)!;
      // Calls A on code prompts and B on math ones: cheaper than always A, better than always B.
      expect(at40.cost1k).toBeLessThan(rep.singles['A']!.cost1k);
      expect(at40.quality).toBeGreaterThan(rep.singles['B']!.quality);
    } finally {
      back.dispose();
    }
    // A registry price beats the prediction: priced A is no longer rerouted by text.
    const reg = Registry.fromObject({ models: [{ id: 'A', inputCostPer1M: 1, outputCostPer1M: 1 }, { id: 'B', inputCostPer1M: 1000, outputCostPer1M: 1000 }] }, 'test');
    const priced2 = Router.loadSync(file, { registry: reg });
    try {
      expect(priced2.routeSync('Please integral item 9999 zz', { policy: 'cost', lambda: 40 }).model).toBe('A');
    } finally {
      priced2.dispose();
    }
  }, T);

  it('refuses a router file whose cost network is missing or not a router, naming it', async () => {
    const { router } = await train(priced(40, 23), { predictor: 'linear' });
    const spec = { version: 1, members: 0, beta: 1, prior: [0.5, 0.5], calibration: null, cost: null, costNetwork: { mean: [0.01, 0.005] } };
    const bytes = router.serialize();
    router.dispose();
    const withMeta = (extra: Record<string, string>): Uint8Array => {
      const h = binding().NativeRouter.load(bytes, 'test', 'cpu', 1);
      try {
        for (const [k, v] of Object.entries(extra)) h.setMetadata(k, v);
        return h.serialize(false);
      } finally {
        h.dispose();
      }
    };
    expect(() => Router.loadSync(withMeta({ 'routecore.postprocess': JSON.stringify(spec) }))).toThrow(/router file metadata has no "routecore\.cost"/);
    expect(() => Router.loadSync(withMeta({ 'routecore.postprocess': JSON.stringify(spec), 'routecore.cost': Buffer.from('not a router').toString('base64') }))).toThrow(/cost network/);
    // A well-formed cost network loads and is used.
    const ok = Router.loadSync(withMeta({ 'routecore.postprocess': JSON.stringify(spec), 'routecore.cost': Buffer.from(bytes).toString('base64') }));
    try {
      expect(await ok.predictedCosts(['Please integral item 1'])).toBeInstanceOf(Float32Array);
    } finally {
      ok.dispose();
    }
  }, T);

  it('rejects a bad cost network spec', () => {
    const spec = { version: 1, members: 0, beta: 1, prior: [0.5, 0.5], calibration: null, cost: null };
    expect(() => parsePostprocess(JSON.stringify({ ...spec, costNetwork: { mean: [1] } }), 2)).toThrow(/costNetwork\.mean must be an array of 2 finite numbers/);
    expect(() => parsePostprocess(JSON.stringify({ ...spec, costNetwork: { mean: [1, -1] } }), 2)).toThrow(/costNetwork\.mean entries must be >= 0/);
    expect(parsePostprocess(JSON.stringify(spec), 2).costNetwork).toBeNull();
  });
});

describe('train --auto: large ensembles in one file', () => {
  it('saves an ensemble with a big member (mf64) as a file that loads and scores the same', async () => {
    // mf64's tables (2^16 x 64 floats) would be 22 MB of base64 in the header, over the 16 MiB a
    // reader accepts: the big member must be the file's own network.
    const recs = signal(120, 41);
    const { router, auto } = await train(recs, { auto: { folds: 3, workers: 0, objective: 'quality', memberSets: [['lin', 'mf64']], betas: [1] } });
    const file = join(dir, 'lin-mf64.router');
    const prompts = ['Solve this: integral number 1 of x', 'Write this: python function number 2'];
    try {
      expect(auto!.chosen.members).toEqual(['lin', 'mf64']);
      // The small member (lin) rides in the header at full precision; mf64 is the file's body.
      const rider = Buffer.from(router.metadata()['routecore.member.1']!, 'base64');
      // --auto sizes the members' hashing tables to the rows (autoLog2Buckets).
      const lin = await train(recs, { predictor: 'linear', seed: 1, encoder: { log2Buckets: autoLog2Buckets(recs.length) } });
      const linBytes = lin.router.serialize().length; // float32; float16 would be about half
      expect(Math.abs(rider.length - linBytes)).toBeLessThan(linBytes * 0.01);
      lin.router.dispose();
      await router.save(file);
      const back = Router.loadSync(file);
      try {
        expect([...(await back.scores(prompts))]).toEqual([...(await router.scores(prompts))]);
        expect(back.postprocess!.members).toBe(1);
      } finally {
        back.dispose();
      }
    } finally {
      router.dispose();
    }
    // Three mf64s cannot fit even in float16: refused before a file no reader would open is written.
    // (--auto sizes tables to the rows, so 120 records never get there: the check is fed two full
    // 2^16-bucket mf64 networks directly, as a large data set would produce.)
    const big = await train(recs, { predictor: 'mf', dim: 64, maxEpochs: 1, seed: 1, encoder: { log2Buckets: 16 } });
    const bigBytes = new Uint8Array(big.router.serialize());
    big.router.dispose();
    expect(() => fitHeader([bigBytes, bigBytes], ['mf64', 'mf64'])).toThrow(/extra networks \(mf64, mf64\) need 2\d\.\d MiB in the router file's header even in float16, over its 14 MiB/);
    expect(fitHeader([bigBytes], ['mf64 alone'])).toHaveLength(1);
  }, T);
});

describe('train --auto: progress and the budget of the selection', () => {
  it('reports the cv, select and final phases, and leaves out candidates not scored within the budget', async () => {
    const recs = signal(90, 31);
    const store = new Map<string, { models: string[]; scores: Float32Array }>();
    const cache = { get: (k: string) => store.get(k), set: (k: string, v: { models: string[]; scores: Float32Array }) => void store.set(k, v) };
    const phases = new Map<string, { done: number; total: number }>();
    const full = await train(recs, { auto: { ...FAST, objective: 'quality', cache, onProgress: (p) => void phases.set(p.phase, { done: p.done, total: p.total }) } });
    full.router.dispose();
    expect([...phases.keys()]).toEqual(['cv', 'select', 'final']);
    expect(phases.get('select')).toEqual({ done: full.auto!.evaluated - 1, total: full.auto!.evaluated - 1 });
    expect(full.auto!.budget.hit).toBe(false);
    // Every training is a cache hit now, so only the selection can overrun a tiny budget: one
    // candidate is scored, the rest are left out and named.
    const cut = await train(recs, { auto: { ...FAST, objective: 'quality', cache, budgetS: 1e-6 } });
    try {
      expect(cut.auto!.budget.hit).toBe(true);
      expect(cut.auto!.evaluated).toBe(2); // one candidate and the baseline
      expect(cut.auto!.skipped).toHaveLength(full.auto!.evaluated - 2);
    } finally {
      cut.router.dispose();
    }
  }, T);
});

describe('train --auto: bad input', () => {
  const recs = signal(60);
  it('names the option at fault', async () => {
    await expect(train(recs, { auto: { objective: 'speed' as never } })).rejects.toThrow(/options\.auto\.objective/);
    await expect(train(recs, { auto: { folds: 1 } })).rejects.toThrow(/2 to 20 for options\.auto\.folds/);
    await expect(train(recs, { auto: { memberSets: [['lin', 'gpt']] } })).rejects.toThrow(/options\.auto\.memberSets\[0\]/);
    await expect(train(recs, { auto: { betas: [0] } })).rejects.toThrow(/options\.auto\.betas/);
    await expect(train(recs, { auto: { colour: 1 } as never })).rejects.toThrow(/options\.auto\.colour/);
    await expect(train(recs, { predictor: 'mlp', auto: true })).rejects.toThrow(/unset with options\.auto .* for options\.predictor/);
    await expect(train(recs, { auto: { budgetS: -1 } })).rejects.toThrow(/options\.auto\.budgetS/);
  }, T);
  it('refuses data it cannot cross-validate', async () => {
    await expect(train(noise(60), { auto: { objective: 'apgr', workers: 0 } })).rejects.toThrow(/APGR needs exactly two models, the data has 3/);
    await expect(train(noise(60), { auto: { objective: 'aiq', workers: 0 } })).rejects.toThrow(/AIQ needs per-query costs/);
    await expect(train(recs.slice(0, 7), { auto: { workers: 0 } })).rejects.toThrow(/at least 10 records, got 7/);
    const one = recs.map((r) => ({ ...r, scores: { A: r.scores['A']! } }));
    await expect(train(one, { auto: { workers: 0 } })).rejects.toThrow(/at least two models; the data scores only "A"/);
    await expect(train(recs, { auto: { ...FAST, budgetS: 1e-6 } })).rejects.toThrow(/time budget .* ran out/);
    const e = await train(recs, { auto: { folds: 2.5 } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RoutecoreError);
    expect((e as RoutecoreError).code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
  }, T);
});

describe('calibration pieces', () => {
  it('fitPlatt undoes an over-confident predictor', () => {
    const r = rng(3);
    const pred: number[] = [], obs: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const z = (r() - 0.5) * 6;
      pred.push(1 / (1 + Math.exp(-2 * z))); // twice as confident as the truth
      obs.push(r() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
    }
    const { a, b } = fitPlatt(pred, obs);
    expect(a).toBeGreaterThan(0.4);
    expect(a).toBeLessThan(0.6);
    expect(Math.abs(b)).toBeLessThan(0.15);
    const cal = pred.map((p) => 1 / (1 + Math.exp(-(a * Math.log(p / (1 - p)) + b))));
    expect(reliability(cal, obs).ece).toBeLessThan(reliability(pred, obs).ece / 2);
    expect(fitPlatt([0.5, 0.5], [1, 0])).toEqual({ a: 1, b: 0 });
  });

  it('reliability bins by predicted score', () => {
    const rel = reliability([0.05, 0.15, 0.95, 0.95, NaN], [0, 1, 1, 0, 1], 10);
    expect(rel.pairs).toBe(4);
    expect(rel.bins[0]!.count).toBe(1);
    expect(rel.bins[9]!.observed).toBe(0.5);
    expect(rel.ece).toBeCloseTo((0.05 + 0.85 + 2 * 0.45) / 4, 9);
  });

  it('parsePostprocess refuses bad specs with the field named', () => {
    const ok = { version: 1, members: 0, beta: 0.5, prior: [0.5, 0.4], calibration: null, cost: null };
    expect(parsePostprocess(JSON.stringify(ok), 2).beta).toBe(0.5);
    expect(() => parsePostprocess('{', 2)).toThrow(/not JSON/);
    expect(() => parsePostprocess(JSON.stringify({ ...ok, version: 2 }), 2)).toThrow(/version 2/);
    expect(() => parsePostprocess(JSON.stringify({ ...ok, prior: [1] }), 2)).toThrow(/prior must be an array of 2/);
    expect(() => parsePostprocess(JSON.stringify({ ...ok, beta: 2 }), 2)).toThrow(/beta/);
    expect(() => parsePostprocess(JSON.stringify({ ...ok, calibration: { kind: 'iso' } }), 2)).toThrow(/calibration\.kind/);
    expect(() => parsePostprocess(JSON.stringify({ ...ok, cost: { base: [-1, 0], perToken: [0, 0] } }), 2)).toThrow(/cost entries/);
    const post = new ScorePostprocess({ ...ok, calibration: { kind: 'platt', a: [1, 1], b: [0, 0] } }, 2);
    const s = new Float32Array([1, 0]);
    post.apply(s, 1);
    expect(s[0]).toBeCloseTo(0.75, 4);
    expect(s[1]).toBeCloseTo(0.2, 4);
  });

  it('fitCostModel prices by prompt length, never below zero', () => {
    const recs: OutcomeRecord[] = [10, 100, 1000].map((len, i) => ({ id: `c${i}`, prompt: 'x'.repeat(len * 4), scores: { A: 1, B: 0 }, costs: { A: 0.001 + len * 1e-5, B: 0.002 } }));
    const cm = fitCostModel(recs, ['A', 'B'])!;
    expect(cm.model.base[0]).toBeCloseTo(0.001, 9);
    expect(cm.model.perToken[0]).toBeCloseTo(1e-5, 12);
    expect(cm.model.perToken[1]).toBe(0);
    expect(cm.model.base[1]).toBeCloseTo(0.002, 12);
    expect(fitCostModel([{ id: 'x', prompt: 'p', scores: { A: 1 } }], ['A'])).toBeNull();
  });
});

describe('traffic data: outcome logs, pairwise records, weights', () => {
  it('reads outcome-log lines, skipping and counting the unscored ones', () => {
    const f = join(dir, 'log.jsonl');
    writeFileSync(f, [
      JSON.stringify({ id: 'q1', ts: '2026-12-01T10:00:00Z', prompt: 'hi there', routed: 'A', model: 'A', attempts: [{ model: 'A', status: 200, ms: 5 }], costUsd: 0.002, score: 1 }),
      JSON.stringify({ id: 'q2', ts: '2026-12-01T10:00:01Z', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'sum 2+2' }] }], routed: 'B', model: 'B', attempts: [], score: 0.5 }),
      JSON.stringify({ id: 'q3', ts: '2026-12-01T10:00:02Z', prompt: 'no feedback', routed: 'A', model: 'A', attempts: [] }),
      '',
    ].join('\n'));
    const r = readOutcomeLog(f);
    expect(r.unscored).toBe(1);
    expect(r.records).toEqual([
      { id: 'q1', prompt: 'hi there', scores: { A: 1 }, costs: { A: 0.002 } },
      { id: 'q2', prompt: 'be brief\nsum 2+2', scores: { B: 0.5 } },
    ]);
    const loaded = loadTrainingData([{ path: f, weight: 2 }]);
    expect(loaded.files[0]).toMatchObject({ format: 'outcome-log', records: 2, used: 4, unscored: 1, weight: 2 });
  });

  it('names the file and line of a bad log entry', () => {
    const f = join(dir, 'bad-log.jsonl');
    writeFileSync(f, JSON.stringify({ id: 'q1', prompt: 'p', routed: 'A', model: 'A', attempts: [], score: 1 }) + '\n' + JSON.stringify({ id: 'q2', prompt: 'p', routed: 'A', model: 'A', attempts: [], score: 3 }) + '\n');
    expect(() => readOutcomeLog(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: "score" must be a number in \\[0,1\\]`));
    writeFileSync(f, JSON.stringify({ id: 'q1', routed: 'A', model: 'A', attempts: [], score: 1 }) + '\n');
    expect(() => readOutcomeLog(f)).toThrow(/:1: needs "prompt"/);
    writeFileSync(f, JSON.stringify({ id: 'q1', prompt: 'p', routed: 'A', model: '', attempts: [], score: 1 }) + '\n');
    expect(() => readOutcomeLog(f)).toThrow(/:1: "model"/);
  });

  it('turns battles into outcome records and mixes formats', () => {
    expect(battlesToOutcomes([{ id: 'b', prompt: 'p', modelA: 'x', modelB: 'y', winner: 'model_b' }])).toEqual([{ id: 'b', prompt: 'p', scores: { x: 0, y: 1 } }]);
    expect(battlesToOutcomes([{ id: 'b', prompt: 'p', modelA: 'x', modelB: 'y', winner: 'tie' }])[0]!.scores).toEqual({ x: 0.5, y: 0.5 });
    const pw = join(dir, 'pw.jsonl');
    writeFileSync(pw, JSON.stringify({ id: 'p1', prompt: 'q', model_a: 'A', model_b: 'B', winner: 'model_a' }) + '\n');
    const oc = join(dir, 'oc.jsonl');
    writeFileSync(oc, JSON.stringify({ id: 'o1', prompt: 'q2', scores: { A: 0, B: 1 } }) + '\n');
    const { records, files } = loadTrainingData([{ path: pw }, { path: oc }]);
    expect(records.map((r) => r.id)).toEqual(['p1', 'o1']);
    expect(files.map((f) => f.format)).toEqual(['pairwise', 'outcome']);
  });

  it('applies weights by deterministic repetition', () => {
    const recs = noise(2000);
    const half = weightRecords(recs, 0.5);
    expect(half.length).toBeGreaterThan(900);
    expect(half.length).toBeLessThan(1100);
    expect(weightRecords(recs, 0.5).map((r) => r.id)).toEqual(half.map((r) => r.id));
    expect(weightRecords(recs, 2)).toHaveLength(4000);
    expect(weightRecords(recs, 0)).toHaveLength(0);
    expect(copiesOf('x', 3)).toBe(3);
    expect(() => weightRecords(recs, -1)).toThrow(/weight/);
    expect(parseDataSpec('a.jsonl:0.25')).toEqual({ path: 'a.jsonl', weight: 0.25 });
    expect(parseDataSpec('a.jsonl')).toEqual({ path: 'a.jsonl', weight: 1 });
    expect(() => parseDataSpec('a.jsonl:-2')).toThrow(/weight >= 0/);
  });
});
