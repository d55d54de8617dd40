import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { buildCandidates } from '../src/routing/policy.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { calibrateThreshold, majorityVote, rankThreshold, selectSubset, strongWinProbability } from '../src/routing/selection.js';
import { train } from '../src/training/train.js';

const ids = ['a', 'b', 'c', 'd'];
function table(latency: number[], cost: number[]) {
  const reg = Registry.fromObject({
    models: ids.map((id, i) => ({ id, latencyMs: latency[i], inputCostPer1M: 0, outputCostPer1M: (cost[i]! * 1e6) / 256 })),
  });
  return buildCandidates(ids, reg, () => undefined, 0);
}

describe('subset policy (SelectLLM)', () => {
  const t = table([100, 200, 300, 400], [0.001, 0.002, 0.003, 0.004]);
  const q = new Float32Array([0.6, 0.5, 0.8, 0.3]);

  it('returns the smallest set reaching the target (hand-computed)', () => {
    // Singles: best is c at 0.8 < 0.9. Pairs: {a,c}: 1-0.4*0.2 = 0.92; {b,c}: 1-0.5*0.2 = 0.90; {c,d}: 0.86; {a,b}: 0.80.
    const r = selectSubset(q, 0, t, { k: 3, target: 0.9 });
    expect(r.members).toEqual([2, 0]); // c then a, by predicted score
    expect(r.jointSuccess).toBeCloseTo(0.92, 6);
    expect(r.reachedTarget).toBe(true);
    // A single model suffices at target 0.8.
    expect(selectSubset(q, 0, t, { target: 0.8 }).members).toEqual([2]);
  });

  it('respects the latency budget (slowest member counts) and the cost budget (members add up)', () => {
    // Without c (300 ms > 250): {a,b}: 0.80 → best within limits but below 0.9.
    const r = selectSubset(q, 0, t, { target: 0.9, maxLatencyMs: 250 });
    expect(r.members).toEqual([0, 1]);
    expect(r.reachedTarget).toBe(false);
    expect(r.jointSuccess).toBeCloseTo(0.8, 6);
    // Cost cap 0.0041: {a,c} costs 0.004 → allowed and reaches 0.92.
    expect(selectSubset(q, 0, t, { target: 0.9, maxCost: 0.0041 }).members).toEqual([2, 0]);
    // Cost cap 0.0035: {a,b} (0.003) is the best pair; {a,c} (0.004) is out; c alone 0.8.
    const capped = selectSubset(q, 0, t, { target: 0.9, maxCost: 0.0035 });
    expect(capped.members).toEqual([0, 1]);
    expect(capped.reachedTarget).toBe(false);
  });

  it('k caps the set size', () => {
    const r = selectSubset(new Float32Array([0.3, 0.3, 0.3, 0.3]), 0, t, { k: 2, target: 0.99 });
    expect(r.members).toHaveLength(2);
    expect(r.jointSuccess).toBeCloseTo(1 - 0.7 * 0.7, 6);
  });
});

describe('majority vote', () => {
  it('counts normalised answers and breaks ties by first appearance', () => {
    expect(majorityVote(['42', ' 41', '42 ', 'x'])).toEqual({ answer: '42', votes: 2, index: 0 });
    // 1-1 tie between "b" and "a": the first given wins (the subset's most trusted model).
    expect(majorityVote(['B', 'a'])).toEqual({ answer: 'B', votes: 1, index: 0 });
    expect(majorityVote([{ v: 1 }, { v: 2 }, { v: 2 }], { key: (o) => String(o.v) }).index).toBe(1);
    expect(() => majorityVote([])).toThrow('Expected a non-empty array for answers but received array of length 0');
  });
});

describe('threshold policy (RouteLLM)', () => {
  it('win probability and ranking', () => {
    expect(strongWinProbability(0.9, 0.5)).toBeCloseTo(0.7, 6);
    const t = table([1, 1, 1, 1], [0.01, 0.001, 0.002, 0.003]);
    const ranked: number[] = [];
    const scores = new Float32Array([0.9, 0.5, 0.95, 0.1]);
    expect(rankThreshold(scores, 0, t, 0, 1, 0.65, ranked)).toEqual({ count: 4, winProbability: expect.closeTo(0.7, 6) });
    expect(ranked.slice(0, 2)).toEqual([0, 1]);
    rankThreshold(scores, 0, t, 0, 1, 0.75, ranked);
    expect(ranked.slice(0, 2)).toEqual([1, 0]);
    expect(ranked.slice(2)).toEqual([2, 3]); // the rest in best order
  });

  it('calibrateThreshold hits the share exactly on distinct values', () => {
    const p = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 1000);
    for (const share of [0, 0.1, 0.3, 0.5, 0.999, 1]) {
      const tau = calibrateThreshold(p, share);
      expect(p.filter((x) => x >= tau).length).toBe(Math.ceil(share * 1000));
    }
    expect(() => calibrateThreshold(p, 1.5)).toThrow('Expected a number in [0, 1] for strongShare but received number 1.5');
  });
});

const root = resolve(__dirname, '..');
const dataDir = resolve(root, '..', 'shared', 'data');
const hasData = existsSync(join(dataDir, 'routellm-mmlu.jsonl'));

describe('Router with threshold, subset and outages', () => {
  let router: Router;
  const tmp = mkdtempSync(join(tmpdir(), 'routecore-sel-'));
  beforeAll(async () => {
    const records = [];
    for (let i = 0; i < 120; i++) {
      records.push({ id: `m${i}`, prompt: `compute ${i} times ${i % 7} and add ${i * 3}`, scores: { big: 1, small: i % 3 === 0 ? 1 : 0, mid: 0.5 } });
      records.push({ id: `h${i}`, prompt: `say hello to person number ${i}`, scores: { big: 1, small: 1, mid: 0.5 } });
    }
    router = (await train(records, { hidden: 8, encoder: { log2Buckets: 12 }, seed: 5 })).router;
  });
  afterAll(() => {
    router.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('needs a pair for threshold with more than two models; calibrates and persists tau', async () => {
    expect(() => router.routeSync('x', { policy: 'threshold' })).toThrow('the threshold policy needs a strong/weak pair');
    const bytes = router.serialize();
    const r = Router.loadSync(bytes, { threshold: { strong: 'big', weak: 'small' } });
    const prompts = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `compute ${i} times ${i % 5} and add ${i}` : `say hello to person number ${i} today`));
    const tau = await r.calibrate(prompts, { strongShare: 0.3 });
    const decisions = await r.routeBatch(prompts, { policy: 'threshold' });
    const share = decisions.filter((d) => d.model === 'big').length / prompts.length;
    expect(Math.abs(share - 0.3)).toBeLessThanOrEqual(0.01);
    expect(decisions[0]!.winProbability).toBeTypeOf('number');
    const again = Router.loadSync(r.serialize());
    expect(again.threshold).toEqual({ value: tau, strong: 'big', weak: 'small' });
    again.dispose();
    r.dispose();
  });

  it('subset decisions list the members and sum their costs', () => {
    const d = router.routeSync('compute 3 times 4 and add 5', { policy: 'subset', subset: { k: 2, target: 1 } });
    expect(d.models).toHaveLength(2);
    expect(d.model).toBe(d.models![0]);
    expect(d.jointSuccess).toBeGreaterThan(0);
    expect(() => router.routeSync('x', { policy: 'subset', subset: { k: 0 } })).toThrow('Expected an integer from 1 to 8 for options.subset.k but received number 0');
  });

  it('markUnavailable takes a model out for a while and brings it back', async () => {
    const first = router.routeSync('compute 1 times 2 and add 3').model;
    // A mocked clock: with a real one, a loaded machine could spend the 60 ms between two lines.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      router.markUnavailable(first, 60);
      vi.advanceTimersByTime(59);
      const during = router.routeSync('compute 1 times 2 and add 3');
      expect(during.model).not.toBe(first);
      expect(during.fallbacks).not.toContain(first);
      vi.advanceTimersByTime(2);
      expect(router.routeSync('compute 1 times 2 and add 3').model).toBe(first);
    } finally {
      vi.useRealTimers();
    }
    router.markUnavailable(first, 10_000);
    router.markUnavailable(first, 0);
    expect(router.routeSync('compute 1 times 2 and add 3').model).toBe(first);
    expect(() => router.markUnavailable('nope', 5)).toThrow(/for id but received string "nope"/);
  });

  it.skipIf(!hasData)('the default router calibrates to within 1 point on 1,000 real prompts, and the CLI does it too', async () => {
    const cli = join(root, 'dist', 'src', 'cli', 'main.js');
    const r = Router.loadSync('default');
    const prompts = (await import('../src/training/data.js')).readOutcomes(join(dataDir, 'routellm-mmlu.jsonl')).records.slice(0, 1000).map((x) => x.prompt);
    await r.calibrate(prompts, { strongShare: 0.4 });
    const d = await r.routeBatch(prompts, { policy: 'threshold' });
    expect(Math.abs(d.filter((x) => x.model === 'strong').length / 1000 - 0.4)).toBeLessThanOrEqual(0.01);
    r.dispose();
    if (!existsSync(cli)) return;
    const sample = join(tmp, 'sample.jsonl');
    writeFileSync(sample, prompts.slice(0, 200).map((p, i) => JSON.stringify({ id: String(i), prompt: p, scores: { strong: 1 } })).join('\n'));
    const out = join(tmp, 'cal.router');
    const c = spawnSync(process.execPath, [cli, 'calibrate', '--data', sample, '--strong-share', '0.25', '--out', out, '--half'], { encoding: 'utf8' });
    expect(c.status).toBe(0);
    expect(c.stderr).toMatch(/sends 25\.0% of 200 prompts to strong/);
    const routed = spawnSync(process.execPath, [cli, 'route', '--router', out, '--data', sample, '--policy', 'threshold'], { encoding: 'utf8' });
    const models = routed.stdout.trim().split('\n').map((l) => JSON.parse(l).model);
    expect(models.filter((m) => m === 'strong').length).toBe(50);
  });
});
