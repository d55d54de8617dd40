/**
 * End-to-end tests of Router on a router trained in this file from a synthetic two-topic data set:
 * arithmetic word problems (answered by "math-model") and history questions ("history-model"),
 * plus "cheap-model" that scores 0.5 everywhere at 1/100 of the price.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import type { NativeEpochInfo } from '../src/addon/native.js';
import { Registry } from '../src/routing/registry.js';
import type { Decision } from '../src/routing/router.js';
import { Router } from '../src/app/router.js';
import { train, type TrainResult } from '../src/training/train.js';
import { caught } from './helpers/index.js';

const MODELS = ['math-model', 'history-model', 'cheap-model'] as const;
const COSTS: Record<string, number> = { 'cheap-model': 0.0001, 'math-model': 0.01, 'history-model': 0.01 };
const BASE_OPTIONS = { hidden: 16, encoder: { log2Buckets: 14 }, seed: 7 } as const;

/** A deterministic prompt generator (LCG), so the data set is the same on every run and platform. */
function promptGenerator(seed: number): { math: () => string; history: () => string } {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const n = (): number => 2 + Math.floor(rnd() * 97);
  const names = ['Alice', 'Bob', 'Carmen', 'Deepak', 'Elena', 'Farid', 'Grace', 'Hiro'];
  const items = ['apples', 'marbles', 'pencils', 'cookies', 'stickers', 'books', 'coins', 'oranges'];
  const mathTemplates = [
    () => `${pick(names)} has ${n()} ${pick(items)} and buys ${n()} more. How many ${pick(items)} does ${pick(names)} have now?`,
    () => `A train travels ${n()} km per hour for ${n()} hours. How many kilometres does it travel in total?`,
    () => `If ${n()} ${pick(items)} cost ${n()} dollars each, what is the total cost of the purchase?`,
    () => `${pick(names)} shares ${n()} ${pick(items)} equally among ${n()} friends. How many does each friend get, and how many are left over?`,
    () => `Compute ${n()} plus ${n()} minus ${n()} times ${n()}. Show the arithmetic step by step.`,
    () => `A rectangle is ${n()} metres long and ${n()} metres wide. What is its area and its perimeter?`,
  ];
  const events = [
    'the French Revolution', 'the fall of the Roman Empire', 'the Industrial Revolution', 'the signing of the Magna Carta',
    'the Renaissance', 'the Cold War', 'the Meiji Restoration', 'the American Civil War',
  ];
  const figures = [
    'Napoleon', 'Julius Caesar', 'Queen Victoria', 'Genghis Khan', 'Cleopatra', 'Charlemagne', 'Abraham Lincoln', 'Catherine the Great',
  ];
  const historyTemplates = [
    () => `What were the main causes of ${pick(events)}, and how did it change society?`,
    () => `Describe the role ${pick(figures)} played in the politics of their era.`,
    () => `Which empire did ${pick(figures)} rule or oppose, and what was their lasting legacy?`,
    () => `Explain the historical significance of ${pick(events)} for later European history.`,
    () => `How did ${pick(figures)} influence ${pick(events)}? Discuss the historians' debate.`,
    () => `Summarise the key events of ${pick(events)} in chronological order.`,
  ];
  return { math: () => pick(mathTemplates)(), history: () => pick(historyTemplates)() };
}

function makeRecords(perTopic: number, seed: number): OutcomeRecord[] {
  const g = promptGenerator(seed);
  const out: OutcomeRecord[] = [];
  for (let i = 0; i < perTopic; i++) {
    out.push({ id: `math-${i}`, task: 'math', prompt: g.math(), scores: { 'math-model': 1, 'history-model': 0, 'cheap-model': 0.5 }, costs: { ...COSTS } });
    out.push({ id: `hist-${i}`, task: 'history', prompt: g.history(), scores: { 'math-model': 0, 'history-model': 1, 'cheap-model': 0.5 }, costs: { ...COSTS } });
  }
  return out;
}

const records = makeRecords(150, 1);
const trainingPrompts = new Set(records.map((r) => r.prompt));

/** Held-out prompts: another seed, minus anything that also occurs in the training set. */
function heldOut(topic: 'math' | 'history', count: number): string[] {
  const g = promptGenerator(topic === 'math' ? 424242 : 171717);
  const out = new Set<string>();
  for (let guard = 0; out.size < count && guard < 100 * count; guard++) {
    const p = g[topic]();
    if (!trainingPrompts.has(p)) out.add(p);
  }
  if (out.size !== count) throw new Error(`could only generate ${out.size} held-out ${topic} prompts`);
  return [...out];
}

const heldMath = heldOut('math', 40);
const heldHistory = heldOut('history', 40);
const mixed: string[] = [];
for (let i = 0; i < 40; i++) mixed.push(heldMath[i]!, heldHistory[i]!);

let mlp: TrainResult;
let linear: TrainResult;
let mlpBytes: Buffer;
const epochs: NativeEpochInfo[] = [];
let epochsWhenTrainResolved = -1;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'routecore-router-test-'));
  mlp = await train(records, { predictor: 'mlp', ...BASE_OPTIONS, onEpoch: (e) => epochs.push(e) });
  epochsWhenTrainResolved = epochs.length;
  linear = await train(records, { predictor: 'linear', ...BASE_OPTIONS });
  mlpBytes = mlp.router.serialize();
});

afterAll(() => {
  mlp?.router.dispose();
  linear?.router.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function share(decisions: readonly Decision[], model: string): number {
  return decisions.filter((d) => d.model === model).length / decisions.length;
}

describe('routing quality on held-out prompts (policy best)', () => {
  for (const kind of ['mlp', 'linear'] as const) {
    it(`${kind}: math prompts go to math-model, history prompts to history-model`, () => {
      const router = (kind === 'mlp' ? mlp : linear).router;
      expect(router.predictor).toBe(kind);
      expect(router.models).toEqual([...MODELS]);
      const math = heldMath.map((p) => router.routeSync(p));
      const hist = heldHistory.map((p) => router.routeSync(p));
      expect(share(math, 'math-model')).toBeGreaterThanOrEqual(0.95);
      expect(share(hist, 'history-model')).toBeGreaterThanOrEqual(0.95);
      // The predicted scores themselves separate the topics, not just the argmax.
      const mean = (ds: Decision[], m: string) => ds.reduce((s, d) => s + d.scores[m]!, 0) / ds.length;
      expect(mean(math, 'math-model')).toBeGreaterThan(0.8);
      expect(mean(math, 'history-model')).toBeLessThan(0.2);
      expect(mean(hist, 'history-model')).toBeGreaterThan(0.8);
      expect(mean(hist, 'math-model')).toBeLessThan(0.2);
      // cheap-model scored 0.5 on everything it saw.
      expect(mean(math, 'cheap-model')).toBeGreaterThan(0.25);
      expect(mean(math, 'cheap-model')).toBeLessThan(0.75);
    });
  }
});

describe('sync, async and batched paths agree', () => {
  it('routeSync, route and routeBatch give identical scores and models for the same prompts', async () => {
    const router = mlp.router;
    // Over 16 Ki characters of text in all: routeBatch (and route's micro-batch) take the addon-thread path.
    const prompts = [...mixed.slice(0, 20), `${mixed[0]} `.repeat(Math.ceil(17_000 / (mixed[0]!.length + 1)))];
    const sync = prompts.map((p) => router.routeSync(p));
    const viaRoute = await Promise.all(prompts.map((p) => router.route(p)));
    const batched = await router.routeBatch(prompts);
    const small = await router.routeBatch(prompts.slice(0, 3)); // little text: the calling-thread path
    for (let i = 0; i < prompts.length; i++) {
      expect(viaRoute[i]!.scores).toEqual(sync[i]!.scores);
      expect(batched[i]!.scores).toEqual(sync[i]!.scores);
      expect(viaRoute[i]!.model).toBe(sync[i]!.model);
      expect(batched[i]!.model).toBe(sync[i]!.model);
      expect(batched[i]!.fallbacks).toEqual(sync[i]!.fallbacks);
    }
    for (let i = 0; i < 3; i++) expect(small[i]!.scores).toEqual(sync[i]!.scores);
    // scores() returns the same numbers as a prompts x models matrix.
    const matrix = await router.scores(prompts);
    expect(matrix).toBeInstanceOf(Float32Array);
    expect(matrix.length).toBe(prompts.length * MODELS.length);
    for (let i = 0; i < prompts.length; i++) {
      for (const [j, m] of MODELS.entries()) expect(matrix[i * MODELS.length + j]).toBe(sync[i]!.scores[m]);
    }
  });

  it('300 concurrent route() calls are coalesced into a few native calls and equal routeBatch', async () => {
    const router = await Router.load(mlpBytes);
    try {
      const g = promptGenerator(99);
      const prompts = Array.from({ length: 300 }, (_, i) => (i % 2 ? g.math() : g.history()));
      expect(router.stats()).toEqual({ routed: 0, batches: 0, largestBatch: 0, queued: 0 });
      const pending = prompts.map((p) => router.route(p));
      expect(router.stats().queued).toBeGreaterThan(0);
      const viaRoute = await Promise.all(pending);
      const stats = router.stats();
      expect(stats.routed).toBe(300);
      expect(stats.batches).toBeLessThan(stats.routed);
      expect(stats.batches).toBeGreaterThanOrEqual(2); // default maxBatchSize is 256
      expect(stats.largestBatch).toBeLessThanOrEqual(256);
      expect(stats.queued).toBe(0);
      const batched = await router.routeBatch(prompts);
      for (let i = 0; i < prompts.length; i++) {
        expect(viaRoute[i]!.scores).toEqual(batched[i]!.scores);
        expect(viaRoute[i]!.model).toBe(batched[i]!.model);
        expect(viaRoute[i]!.fallbacks).toEqual(batched[i]!.fallbacks);
      }
    } finally {
      router.dispose();
    }
  });

  it('maxBatchSize bounds the micro-batches', async () => {
    const router = Router.loadSync(mlpBytes, { maxBatchSize: 16 });
    try {
      const prompts = mixed.slice(0, 50);
      const viaRoute = await Promise.all(prompts.map((p) => router.route(p)));
      const stats = router.stats();
      expect(stats.routed).toBe(50);
      expect(stats.largestBatch).toBeLessThanOrEqual(16);
      expect(stats.batches).toBeGreaterThanOrEqual(4);
      for (const [i, p] of prompts.entries()) expect(viaRoute[i]!.scores).toEqual(router.routeSync(p).scores);
    } finally {
      router.dispose();
    }
  });

  it('routeBatch of 1000 prompts (addon thread) equals routeSync prompt by prompt', async () => {
    const router = mlp.router;
    const g = promptGenerator(2024);
    const prompts = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? g.history() : g.math()) + ` (#${i})`);
    const batched = await router.routeBatch(prompts);
    expect(batched).toHaveLength(1000);
    for (let i = 0; i < prompts.length; i++) {
      const s = router.routeSync(prompts[i]!);
      expect(batched[i]!.scores).toEqual(s.scores);
      expect(batched[i]!.model).toBe(s.model);
    }
  });

  it('routeBatch([]) is an empty array', async () => {
    await expect(mlp.router.routeBatch([])).resolves.toEqual([]);
  });
});

describe('decision shape', () => {
  it('names the model, every other eligible model as ordered fallbacks, every score, the policy, micros and cost', async () => {
    const router = mlp.router;
    const check = (d: Decision, expectedModel: string) => {
      expect(Object.keys(d).sort()).toEqual(['expectedCost', 'fallbacks', 'micros', 'model', 'policy', 'scores']);
      expect(d.model).toBe(expectedModel);
      expect([d.model, ...d.fallbacks].sort()).toEqual([...MODELS].sort());
      expect(new Set(d.fallbacks).size).toBe(2);
      // best: fallbacks in descending predicted score
      const order = [d.model, ...d.fallbacks].map((m) => d.scores[m]!);
      for (let i = 1; i < order.length; i++) expect(order[i - 1]!).toBeGreaterThanOrEqual(order[i]!);
      expect(Object.keys(d.scores).sort()).toEqual([...MODELS].sort());
      for (const m of MODELS) {
        expect(typeof d.scores[m]).toBe('number');
        expect(d.scores[m]).toBeGreaterThanOrEqual(0);
        expect(d.scores[m]).toBeLessThanOrEqual(1);
      }
      expect(d.policy).toBe('best');
      expect(Number.isFinite(d.micros)).toBe(true);
      expect(d.micros).toBeGreaterThanOrEqual(0);
      // No registry: the expected cost is the chosen model's mean per-query cost in the training data.
      expect(d.expectedCost).not.toBeNull();
      expect(d.expectedCost!).toBeCloseTo(COSTS[expectedModel]!, 10);
    };
    check(router.routeSync(heldMath[0]!), 'math-model');
    check(await router.route(heldHistory[0]!), 'history-model');
    const [a, b] = await router.routeBatch([heldMath[1]!, heldHistory[1]!]);
    check(a!, 'math-model');
    check(b!, 'history-model');
  });

  it('expectedCost is null when the data had no costs and there is no registry', async () => {
    const noCost = records.slice(0, 60).map(({ costs: _c, ...r }) => r);
    const { router } = await train(noCost, { ...BASE_OPTIONS, maxEpochs: 2 });
    try {
      const d = router.routeSync(heldMath[0]!);
      expect(d.expectedCost).toBeNull();
      expect(router.training!.models['math-model']!.meanCost).toBeNull();
    } finally {
      router.dispose();
    }
  });
});

describe('cost policy, registry and aliases', () => {
  it('with a large lambda the cheap model wins; with lambda 0 quality wins', () => {
    const router = mlp.router;
    for (const p of [heldMath[2]!, heldHistory[2]!]) {
      const best = router.routeSync(p);
      expect(best.model).not.toBe('cheap-model');
      const zero = router.routeSync(p, { policy: 'cost', lambda: 0 });
      expect(zero.model).toBe(best.model);
      expect(zero.policy).toBe('cost');
      const cheap = router.routeSync(p, { policy: 'cost', lambda: 1000 });
      expect(cheap.model).toBe('cheap-model');
      expect(cheap.policy).toBe('cost');
      expect(cheap.expectedCost!).toBeCloseTo(COSTS['cheap-model']!, 10);
      expect(cheap.fallbacks).toHaveLength(2);
      expect(cheap.scores).toEqual(best.scores);
    }
  });

  it('the router-level default policy and knobs apply, and per-call options override them', async () => {
    const router = Router.loadSync(mlpBytes, { policy: 'cost', cost: { lambda: 1000 } });
    try {
      const d = await router.route(heldMath[3]!);
      expect(d.policy).toBe('cost');
      expect(d.model).toBe('cheap-model');
      expect(router.routeSync(heldMath[3]!, { lambda: 0 }).model).toBe('math-model');
      const best = router.routeSync(heldMath[3]!, { policy: 'best' });
      expect(best.policy).toBe('best');
      expect(best.model).toBe('math-model');
    } finally {
      router.dispose();
    }
  });

  it('targetScore picks the cheapest model that reaches it', () => {
    const router = mlp.router;
    const p = heldMath[4]!;
    const s = router.routeSync(p).scores;
    // Preconditions that make the two targets below meaningful.
    expect(s['cheap-model']!).toBeGreaterThanOrEqual(0.3);
    expect(s['cheap-model']!).toBeLessThan(0.85);
    expect(s['math-model']!).toBeGreaterThanOrEqual(0.85);
    const low = router.routeSync(p, { policy: 'cost', targetScore: 0.3 });
    expect(low.model).toBe('cheap-model'); // math-model also reaches 0.3 but costs 100x more
    expect(low.fallbacks[0]).toBe('math-model');
    const high = router.routeSync(p, { policy: 'cost', targetScore: 0.85 });
    expect(high.model).toBe('math-model');
    expect(high.expectedCost!).toBeCloseTo(0.01, 10);
  });

  it('a model the registry disables is never chosen nor listed as a fallback', async () => {
    const registry = Registry.fromObject({
      models: [{ id: 'math-model', enabled: false }, { id: 'history-model' }, { id: 'cheap-model' }],
    });
    const router = await Router.load(mlpBytes, { registry });
    try {
      const decisions = [
        ...heldMath.slice(0, 10).map((p) => router.routeSync(p)),
        ...(await router.routeBatch(mixed.slice(0, 20))),
        ...(await Promise.all(heldMath.slice(10, 20).map((p) => router.route(p, { policy: 'cost', lambda: 0 })))),
      ];
      for (const d of decisions) {
        expect(d.model).not.toBe('math-model');
        expect(d.fallbacks).not.toContain('math-model');
        expect(d.fallbacks).toHaveLength(1);
        expect(Object.keys(d.scores)).toContain('math-model'); // still scored, just not eligible
      }
      // math prompts now go to the best remaining model, cheap-model.
      expect(router.routeSync(heldMath[0]!).model).toBe('cheap-model');
    } finally {
      router.dispose();
    }
  });

  it('a model missing from the registry is not eligible either; registry prices give expectedCost', () => {
    const registry = Registry.fromObject([
      { id: 'cheap-model', inputCostPer1M: 1, outputCostPer1M: 2, expectedOutputTokens: 100 },
      { id: 'history-model' },
    ]);
    const router = Router.loadSync(mlpBytes, { registry });
    try {
      const p = heldMath[5]!;
      const d = router.routeSync(p);
      expect(d.model).toBe('cheap-model');
      expect(d.fallbacks).toEqual(['history-model']);
      const promptTokens = Math.ceil(Buffer.byteLength(p) / 4);
      expect(d.expectedCost!).toBeCloseTo((promptTokens * 1 + 100 * 2) / 1e6, 12);
      // history-model has no registry price: falls back to the training data's mean cost.
      expect(router.routeSync(heldHistory[5]!).expectedCost!).toBeCloseTo(0.01, 10);
    } finally {
      router.dispose();
    }
  });

  it('aliases rename models in decisions and match registry ids', () => {
    const aliases = { 'math-model': 'gpt-math', 'history-model': 'gpt-history' };
    const router = Router.loadSync(mlpBytes, { aliases });
    try {
      expect(router.models).toEqual(['gpt-math', 'gpt-history', 'cheap-model']);
      const d = router.routeSync(heldMath[0]!);
      expect(d.model).toBe('gpt-math');
      expect(Object.keys(d.scores).sort()).toEqual(['cheap-model', 'gpt-history', 'gpt-math']);
      expect(d.scores['gpt-math']).toBe(mlp.router.routeSync(heldMath[0]!).scores['math-model']);
      expect(d.expectedCost!).toBeCloseTo(0.01, 10); // training cost follows the alias
      expect(router.routeSync(heldHistory[0]!).model).toBe('gpt-history');
    } finally {
      router.dispose();
    }
    // An alias naming an id the registry lacks is a typo, refused; a listed but disabled one is skipped.
    expect(() => Router.loadSync(mlpBytes, { aliases, registry: Registry.fromObject([{ id: 'gpt-math' }, { id: 'cheap-model' }]) })).toThrow(
      'Expected an id listed in the registry <object> (gpt-math, cheap-model) for options.aliases["history-model"] but received string "gpt-history"',
    );
    const registry = Registry.fromObject([{ id: 'gpt-math' }, { id: 'gpt-history', enabled: false }, { id: 'cheap-model' }]);
    const withRegistry = Router.loadSync(mlpBytes, { aliases, registry });
    try {
      const d = withRegistry.routeSync(heldHistory[0]!);
      expect(['gpt-math', 'cheap-model']).toContain(d.model);
      expect([d.model, ...d.fallbacks].sort()).toEqual(['cheap-model', 'gpt-math']);
    } finally {
      withRegistry.dispose();
    }
  });

  it('decision scores are own, enumerable properties in model order, whatever characters the ids hold', () => {
    // The scores object is built by a generated object literal: ids with quotes, backslashes, line
    // separators or the name __proto__ must come out as plain keys with the right values.
    const aliases = { 'math-model': 'a"b\\c\u2028d', 'history-model': '__proto__' };
    const router = Router.loadSync(mlpBytes, { aliases });
    try {
      const plain = mlp.router.routeSync(heldMath[0]!).scores;
      const d = router.routeSync(heldMath[0]!);
      expect(Object.keys(d.scores)).toEqual(['a"b\\c\u2028d', '__proto__', 'cheap-model']);
      expect(Object.getPrototypeOf(d.scores)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(d.scores, '__proto__')?.value).toBe(plain['history-model']);
      expect(d.scores['a"b\\c\u2028d']).toBe(plain['math-model']);
      expect(d.scores['cheap-model']).toBe(plain['cheap-model']);
    } finally {
      router.dispose();
    }
    const normal = mlp.router.routeSync(heldHistory[0]!);
    expect(Object.keys(normal.scores)).toEqual([...MODELS]);
    expect(JSON.parse(JSON.stringify(normal.scores))).toEqual(normal.scores);
  });

  it('routes in a Node that forbids code generation from strings (the scores object falls back to a loop)', () => {
    const dist = join(__dirname, '..', 'dist', 'src', 'index.js');
    if (!existsSync(dist)) return void console.warn(`[router.test] skipping: ${dist} is missing (run \`npx tsc -p .\`)`);
    const script = `import { Router } from ${JSON.stringify(pathToFileURL(dist).href)};
const d = Router.loadSync('default').routeSync('Prove that there are infinitely many primes.');
console.log(JSON.stringify(Object.keys(d.scores)));`;
    const child = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual(['strong', 'weak']);
  });

  it('an alias for a model id the router does not have is refused, naming the known ids', () => {
    const err = caught(() => Router.loadSync(mlpBytes, { aliases: { 'gpt-4': 'gpt-4o' } }));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toMatch(/options\.aliases\["gpt-4"\]/);
    expect(err.message).toMatch(/math-model, history-model, cheap-model/);
  });

  it('aliases that merge two models into one id are refused', () => {
    const err = caught(() => Router.loadSync(mlpBytes, { aliases: { 'math-model': 'cheap-model' } }));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toMatch(/distinct/);
  });

  it('a registry holding none of the router models is ERR_ROUTECORE_NO_ELIGIBLE_MODEL', () => {
    const registry = Registry.fromObject([{ id: 'gpt-4o' }, { id: 'claude-3-haiku' }]);
    const err = caught(() => Router.loadSync(mlpBytes, { registry }));
    expect(err.code).toBe('ERR_ROUTECORE_NO_ELIGIBLE_MODEL');
    expect(err.message).toMatch(/none of the router's models \(math-model, history-model, cheap-model\)/);
    // ... and so is one where every router model is disabled.
    const allOff = Registry.fromObject(MODELS.map((id) => ({ id, enabled: false })));
    expect(caught(() => Router.loadSync(mlpBytes, { registry: allOff })).code).toBe('ERR_ROUTECORE_NO_ELIGIBLE_MODEL');
  });

  it('a maxCost no model meets is ERR_ROUTECORE_NO_ELIGIBLE_MODEL for that call', async () => {
    const err = caught(() => mlp.router.routeSync(heldMath[0]!, { policy: 'cost', maxCost: 0.00001 }));
    expect(err.code).toBe('ERR_ROUTECORE_NO_ELIGIBLE_MODEL');
    expect(err.message).toMatch(/cost policy/);
    // A limit that only cheap-model meets routes there.
    expect(mlp.router.routeSync(heldMath[0]!, { policy: 'cost', maxCost: 0.001 }).model).toBe('cheap-model');
    await expect(mlp.router.route(heldMath[0]!, { policy: 'cost', maxCost: 0.00001 })).rejects.toMatchObject({
      code: 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL',
    });
  });
});

describe('artifact round trips', () => {
  it('save() then Router.load(path) gives identical scores and metadata', async () => {
    const path = join(tmp, 'mlp.router');
    await mlp.router.save(path);
    expect(statSync(path).size).toBe(mlpBytes.length);
    const loaded = await Router.load(path);
    try {
      expect(loaded.models).toEqual(mlp.router.models);
      expect(loaded.predictor).toBe('mlp');
      expect(loaded.encoder).toBe('hashing');
      expect(loaded.inputDim).toBe(2 ** 14);
      const meta = loaded.metadata();
      for (const [k, v] of Object.entries(mlp.router.metadata())) expect(meta[k]).toBe(v);
      expect(meta['format_version']).toBe('1');
      expect(meta['predictor']).toBe('mlp');
      expect(await loaded.scores(mixed)).toEqual(await mlp.router.scores(mixed));
      // Re-serialising a loaded router reproduces the file byte for byte.
      expect(loaded.serialize().equals(mlpBytes)).toBe(true);
    } finally {
      loaded.dispose();
    }
  });

  // Regression: metadata() describes the router the same way whether trained here or loaded.
  it('metadata() of a freshly trained router equals that of the same router reloaded', () => {
    const loaded = Router.loadSync(mlpBytes);
    try {
      expect(mlp.router.metadata()).toEqual(loaded.metadata());
    } finally {
      loaded.dispose();
    }
  });

  it('linear routers round-trip too', async () => {
    const path = join(tmp, 'linear.router');
    await linear.router.save(path);
    const loaded = Router.loadSync(path);
    try {
      expect(loaded.predictor).toBe('linear');
      expect(await loaded.scores(mixed)).toEqual(await linear.router.scores(mixed));
    } finally {
      loaded.dispose();
    }
  });

  it('halfPrecision: a smaller file whose scores stay within 5e-3', async () => {
    const full = join(tmp, 'full.router');
    const half = join(tmp, 'half.router');
    await mlp.router.save(full);
    await mlp.router.save(half, { halfPrecision: true });
    const fullSize = statSync(full).size;
    const halfSize = statSync(half).size;
    expect(halfSize).toBeLessThan(fullSize * 0.75); // the 2^14 x 16 table dominates and halves
    const loaded = await Router.load(half);
    try {
      const a = await mlp.router.scores(mixed);
      const b = await loaded.scores(mixed);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBeLessThanOrEqual(5e-3);
      expect(worst).toBeGreaterThan(0); // it really is a different, rounded table
      expect(heldMath.slice(0, 10).every((p) => loaded.routeSync(p).model === 'math-model')).toBe(true);
    } finally {
      loaded.dispose();
    }
  });

  it('serialize() bytes reload with Router.load(bytes) and Router.loadSync(bytes)', async () => {
    const bytes = mlp.router.serialize();
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.equals(mlpBytes)).toBe(true);
    const a = await Router.load(bytes);
    const b = Router.loadSync(new Uint8Array(bytes));
    try {
      const expected = await mlp.router.scores(mixed);
      expect(await a.scores(mixed)).toEqual(expected);
      expect(await b.scores(mixed)).toEqual(expected);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('training', () => {
  it('router.training summarises rows and per-model mean score and cost, and survives save/load', () => {
    const t = mlp.router.training!;
    expect(t).toBeDefined();
    expect(t.rows).toBe(300);
    expect(Object.keys(t.models).sort()).toEqual([...MODELS].sort());
    expect(t.models['math-model']!.meanScore).toBeCloseTo(0.5, 12);
    expect(t.models['history-model']!.meanScore).toBeCloseTo(0.5, 12);
    expect(t.models['cheap-model']!.meanScore).toBeCloseTo(0.5, 12);
    expect(t.models['math-model']!.meanCost!).toBeCloseTo(0.01, 12);
    expect(t.models['cheap-model']!.meanCost!).toBeCloseTo(0.0001, 12);
    for (const m of MODELS) expect(t.models[m]!.rows).toBe(300);
    expect(mlp.summary.rows).toBe(300);
    expect(mlp.summary.models).toEqual(t.models);
    const reloaded = Router.loadSync(mlpBytes);
    try {
      expect(reloaded.training!.models).toEqual(t.models);
      expect(reloaded.training!.rows).toBe(300);
    } finally {
      reloaded.dispose();
    }
  });

  it('the report describes the run', () => {
    const r = mlp.report;
    expect(r.trainRows + r.validationRows).toBe(300);
    expect(r.validationRows).toBeGreaterThan(0);
    expect(r.epochs).toBeGreaterThanOrEqual(1);
    expect(r.bestEpoch).toBeGreaterThanOrEqual(1);
    expect(r.bestEpoch).toBeLessThanOrEqual(r.epochs);
    expect(Number.isFinite(r.bestValidationLoss)).toBe(true);
    expect(Number.isFinite(r.finalTrainLoss)).toBe(true);
    expect(mlp.seconds).toBeGreaterThan(0);
  });

  it('onEpoch is called once per epoch, in order, with numbers, before train() resolves', () => {
    expect(epochs.length).toBe(mlp.report.epochs);
    expect(epochsWhenTrainResolved).toBe(mlp.report.epochs);
    epochs.forEach((e, i) => {
      expect(e.epoch).toBe(i + 1);
      expect(typeof e.maxEpochs).toBe('number');
      expect(e.maxEpochs).toBeGreaterThanOrEqual(e.epoch);
      expect(Number.isFinite(e.trainLoss)).toBe(true);
      expect(e.trainLoss).toBeGreaterThan(0);
      expect(typeof e.validationLoss).toBe('number');
      expect(Number.isFinite(e.validationLoss)).toBe(true);
    });
  });

  it('onEpoch honours maxEpochs', async () => {
    const seen: number[] = [];
    const r = await train(records.slice(0, 80), { ...BASE_OPTIONS, maxEpochs: 3, patience: 100, onEpoch: (e) => seen.push(e.epoch) });
    r.router.dispose();
    expect(seen).toEqual([1, 2, 3]);
    expect(r.report.epochs).toBe(3);
  });

  it('same seed and data give byte-identical routers; another seed gives another router', async () => {
    const again = await train(records, { predictor: 'mlp', ...BASE_OPTIONS });
    const other = await train(records, { predictor: 'mlp', ...BASE_OPTIONS, seed: 8 });
    const linearAgain = await train(records, { predictor: 'linear', ...BASE_OPTIONS });
    try {
      expect(again.router.serialize().equals(mlpBytes)).toBe(true);
      expect(linearAgain.router.serialize().equals(linear.router.serialize())).toBe(true);
      expect(other.router.serialize().equals(mlpBytes)).toBe(false);
    } finally {
      again.router.dispose();
      other.router.dispose();
      linearAgain.router.dispose();
    }
  });
});
