/**
 * Shadow judging beyond one gateway: the daily budget shared by two replicas through a real
 * redis-server, the in-process API (an observed executor writing judged pairs into the JSONL outcome
 * log), `routecore report --log` giving the figures of `/v1/stats`, and the config's validation.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Executor } from '../src/execution/executor.js';
import { OutcomeFile } from '../src/execution/outcome-log.js';
import { Shadow } from '../src/learning/shadow.js';
import { reportFromLogs } from '../src/cli/report.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { MemoryState } from '../src/state/memory.js';
import { RedisState } from '../src/state/redis.js';
import { readLearningLog } from '../src/training/judged-pairs.js';
import { loadTrainingData } from '../src/training/auto-data.js';
import { makePrompts, startLearningFixture, type LearningFixture } from './helpers/learning-fixture.js';
import type { StatsBody } from '../src/learning/live.js';
import { post, until } from './helpers/gateway-fixture.js';
import { redisUnavailable, startRedis, type TestRedis } from './helpers/redis-server.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

let fx: LearningFixture;
beforeAll(async () => {
  fx = await startLearningFixture();
});
afterAll(async () => {
  await fx.close();
});

async function replica(name: string, file: string, redis?: string): Promise<Gateway> {
  const configPath = join(fx.dir, `${name}.yaml`);
  writeFileSync(configPath, file);
  const config = resolveServeConfig({ registry: fx.registryPath, aliases: { strong: 'big', weak: 'small' }, port: '0', config: configPath, ...(redis ? { redis } : {}) }, {});
  config.log = { ...config.log, kind: 'sqlite', path: join(fx.dir, `${name}.sqlite`), flushMs: 20 };
  return Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
}

describe.skipIf(redisUnavailable() !== undefined)('the shadow budget across replicas (redis-server)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('two replicas sharing Redis together spend at most the daily cap', async () => {
    fx.mode = 'rule';
    // One shadowed request costs about $0.00005 here (12 prompt tokens and a few output tokens at the
    // mock prices, three calls); its reservation (the cost bound: input tokens <= bytes, output <=
    // max tokens) is about $0.002-0.004, so a $0.02 cap admits some and refuses the rest.
    const cap = 0.02;
    const file = `shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n  maxTokens: 32\n  judgeMaxTokens: 32\n  budgetUsdPerDay: ${cap}\n`;
    const a = await replica('redis-a', file, redis.url);
    const b = await replica('redis-b', file, redis.url);
    try {
      const prompts = makePrompts(120, 5);
      const results = await Promise.all(prompts.map((p, i) => post(`${(i % 2 ? a : b).url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }] })));
      for (const r of results) expect(r.status).toBe(200);
      const done = () => [a, b].every((g) => g.learning.shadow!.counters.running === 0) && [a, b].reduce((n, g) => n + g.learning.shadow!.counters.judged + Object.values(g.learning.shadow!.counters.skipped).reduce((x, y) => x + y, 0), 0) === prompts.length;
      await until(done, 'every sampled request judged or refused');
      const spent = a.learning.shadow!.counters.spentUsd + b.learning.shadow!.counters.spentUsd;
      const judged = a.learning.shadow!.counters.judged + b.learning.shadow!.counters.judged;
      const refused = (a.learning.shadow!.counters.skipped['daily budget'] ?? 0) + (b.learning.shadow!.counters.skipped['daily budget'] ?? 0);
      process.stderr.write(`budget across replicas: cap $${cap}, spent $${spent.toFixed(6)}, ${judged} judged, ${refused} refused by the budget\n`);
      expect(spent).toBeLessThanOrEqual(cap);
      expect(judged).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
      // Both replicas drew on the one budget.
      expect(a.learning.shadow!.counters.judged + (a.learning.shadow!.counters.skipped['daily budget'] ?? 0)).toBeGreaterThan(0);
      expect(b.learning.shadow!.counters.judged + (b.learning.shadow!.counters.skipped['daily budget'] ?? 0)).toBeGreaterThan(0);
      // Redis holds the settled spend of both.
      const state = await RedisState.connect({ url: redis.url });
      try {
        const counted = await state.counter(`shadow:usd:${new Date().toISOString().slice(0, 10)}`);
        expect(counted).toBeCloseTo(spent, 9);
      } finally {
        await state.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the concurrency cap is shared: leases of both replicas count against one limit', async () => {
    const s1 = await RedisState.connect({ url: redis.url });
    const s2 = await RedisState.connect({ url: redis.url });
    try {
      const t1 = await s1.acquireLease('lease-test', 2, 10_000);
      const t2 = await s2.acquireLease('lease-test', 2, 10_000);
      expect(t1).not.toBeNull();
      expect(t2).not.toBeNull();
      expect(await s1.acquireLease('lease-test', 2, 10_000)).toBeNull();
      await s2.releaseLease('lease-test', t2!);
      expect(await s1.acquireLease('lease-test', 2, 10_000)).not.toBeNull();
      // An expired lease (a replica that died) frees its slot.
      expect(await s1.acquireLease('lease-short', 1, 50)).not.toBeNull();
      expect(await s2.acquireLease('lease-short', 1, 50)).toBeNull();
      await new Promise((r) => setTimeout(r, 120));
      expect(await s2.acquireLease('lease-short', 1, 50)).not.toBeNull();
    } finally {
      await s1.close();
      await s2.close();
    }
  });
});

describe('/dashboard and /v1/stats with client keys', () => {
  it('serves the page and its chart library to anyone; the figures only with a key', async () => {
    const { createHash } = await import('node:crypto');
    const gw = await replica('keys', `keys:\n  - name: ops\n    sha256: ${createHash('sha256').update('sk-ops-key-123').digest('hex')}\n`);
    try {
      const page = await fetch(`${gw.url}/dashboard`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('/v1/stats');
      const lib = await fetch(`${gw.url}/dashboard/uplot.js`);
      expect(lib.status).toBe(200);
      expect((await lib.text()).length).toBeGreaterThan(10_000);
      expect((await fetch(`${gw.url}/v1/stats`)).status).toBe(401);
      const ok = await fetch(`${gw.url}/v1/stats`, { headers: { authorization: 'Bearer sk-ops-key-123' } });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { object: string; judged: number; shadow: { enabled: boolean } };
      expect(body.object).toBe('routecore.stats');
      expect(body.judged).toBe(0);
      expect(body.shadow.enabled).toBe(false);
    } finally {
      await gw.close();
    }
  });
});

describe('SharedState.reserve and leases (memory)', () => {
  it('reserve adds only within the limit', async () => {
    const s = new MemoryState();
    expect(await s.reserve('b', 0.6, 1, 60_000)).toBeCloseTo(0.6);
    expect(await s.reserve('b', 0.6, 1, 60_000)).toBeNull();
    expect(await s.reserve('b', 0.4, 1, 60_000)).toBeCloseTo(1);
    await expect(s.reserve('b', -1, 1, 1000)).rejects.toThrow('amount');
    const t = await s.acquireLease('l', 1, 60_000);
    expect(await s.acquireLease('l', 1, 60_000)).toBeNull();
    await s.releaseLease('l', t!);
    expect(await s.acquireLease('l', 1, 60_000)).not.toBeNull();
    await s.close();
  });
});

describe('the in-process API', () => {
  it('shadow.observe(executor) judges answers after they are returned and logs them in the JSONL outcome log', async () => {
    fx.mode = 'rule';
    const registry = Registry.fromFile(fx.registryPath);
    const router = Router.loadSync('default', { registry, aliases: { strong: 'big', weak: 'small' } });
    const logPath = join(fx.dir, 'inprocess.jsonl');
    const log = new OutcomeFile(logPath, router);
    const shadow = new Shadow({ router, judge: 'judge', rate: 1, maxConcurrent: 16, onJudgment: (j) => log.judgment(j) });
    const executor = shadow.observe(new Executor({ router, env: {} }));
    try {
      const prompts = makePrompts(20, 3);
      for (const [i, p] of prompts.entries()) {
        if (i % 2 === 0) {
          const r = await executor.complete({ messages: [{ role: 'user', content: p }] });
          expect(r.response.choices.length).toBe(1);
        } else {
          const stream = await executor.stream({ messages: [{ role: 'user', content: p }], stream: true });
          let text = '';
          for await (const c of stream) if (c.data !== '[DONE]') text += (JSON.parse(c.data).choices[0]?.delta?.content ?? '') as string;
          expect(text).toMatch(/Answer from (big|small)\./);
        }
      }
      await shadow.idle();
      expect(shadow.counters.judged).toBe(prompts.length);
      await log.close();
      const contents = readLearningLog(logPath);
      expect(contents.judgments).toHaveLength(prompts.length);
      expect(contents.judgments.every((j) => j.prompt !== null)).toBe(true);
      // train --auto reads the same file: the 20 answered requests carry no score, the judged pairs train.
      const { records, files } = loadTrainingData([{ path: logPath }]);
      expect(files[0]!.format).toBe('outcome-log');
      expect(records.filter((r) => r.id.startsWith('judged:'))).toHaveLength(prompts.length);
      expect(shadow.describe()).toContain('sent again to big');
    } finally {
      await shadow.close();
      await executor.close();
      router.dispose();
    }
  });

  it('validates its options with clear messages', () => {
    const registry = Registry.fromFile(fx.registryPath);
    const router = Router.loadSync('default', { registry, aliases: { strong: 'big', weak: 'small' } });
    try {
      expect(() => new Shadow({ router, judge: 'nope', rate: 1 })).toThrow('options.judge');
      expect(() => new Shadow({ router, judge: 'judge', rate: 2 })).toThrow('options.rate');
      expect(() => new Shadow({ router, judge: 'judge', rate: 0.5, maxConcurrent: 0 })).toThrow('options.maxConcurrent');
    } finally {
      router.dispose();
    }
  });
});

describe('config', () => {
  const base = () => ({ registry: fx.registryPath, port: '0' });
  it('reads flags and the file, flags first', () => {
    const path = join(fx.dir, 'cfg.yaml');
    writeFileSync(path, 'shadow:\n  rate: 0.2\n  judge: judge\n  budgetUsdPerDay: 5\n');
    const c = resolveServeConfig({ ...base(), config: path, shadow: '0.05', shadowBudgetUsd: '2' }, {});
    expect(c.shadow).toMatchObject({ rate: 0.05, judge: 'judge', budgetUsdPerDay: 2, maxConcurrent: 4, focus: 0.5 });
  });
  it('names the field at fault', () => {
    expect(() => resolveServeConfig({ ...base(), shadow: '2', judge: 'judge' }, {})).toThrow('command line: --shadow must be a number from 0 to 1, got string "2"');
    expect(() => resolveServeConfig({ ...base(), shadow: '0.1' }, {})).toThrow('command line: --shadow needs --judge ID');
    expect(() => resolveServeConfig({ ...base(), judge: 'judge' }, {})).toThrow('--judge, --compare, --shadow-budget-usd and --judge-template need --shadow RATE');
    const path = join(fx.dir, 'bad.yaml');
    writeFileSync(path, 'shadow:\n  rate: 0.1\n  judge: judge\n  budgetUsdPerDy: 3\n');
    expect(() => resolveServeConfig({ ...base(), config: path }, {})).toThrow(`${path}: unknown field "shadow.budgetUsdPerDy" (did you mean "budgetUsdPerDay"?)`);
    writeFileSync(path, 'keys:\n  - name: a\n    sha256: ' + 'a'.repeat(64) + '\n    shadow: nope\n');
    expect(() => resolveServeConfig({ ...base(), config: path }, {})).toThrow(`${path}: field "keys[0].shadow" must be true or false, got string "nope"`);
    expect(() => resolveServeConfig({ ...base(), learnEvery: '5' }, {})).toThrow('command line: --learn-every needs --learn');
  });
});

describe.skipIf(!existsSync(CLI))('routecore report --log', () => {
  it('prints the figures of /v1/stats from the gateway\'s log', async () => {
    fx.mode = 'rule';
    const gw = await replica('report', 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n');
    let stats: StatsBody;
    try {
      const prompts = makePrompts(60, 8);
      for (const p of prompts) expect((await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }] })).status).toBe(200);
      await until(async () => (await gw.learning.stats()).judged === prompts.length, 'every answer judged');
      stats = await gw.learning.stats();
    } finally {
      await gw.close();
    }
    const logPath = join(fx.dir, 'report.sqlite');
    const fromLog = reportFromLogs([logPath], Registry.fromFile(fx.registryPath));
    expect(fromLog.cheaperAsGood).toEqual(stats.quality.cheaperAsGood);
    expect(fromLog.routerAsGood).toEqual(stats.quality.routerAsGood);
    expect(fromLog.apgr).toEqual(stats.quality.apgr);
    expect(fromLog.saving).toEqual(stats.quality.saving);
    const r = spawnSync(process.execPath, [CLI, 'report', '--log', logPath, '--registry', fx.registryPath], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('judged pairs: 60 (60 in the uniform sample the estimates use)');
    expect(r.stdout).toMatch(/the cheaper answer was as good: \d+\.\d% \(95% wilson interval \d+\.\d%–\d+\.\d%, n = 60\)/);
    const json = spawnSync(process.execPath, [CLI, 'report', '--log', logPath, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(json.stdout).judged).toBe(60);
    const bad = spawnSync(process.execPath, [CLI, 'report'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('report needs --log LOG');
  });
});
