/**
 * Guarded learning end to end: a gateway with shadow judging fills its log with judged pairs (mock
 * judge with a hidden rule: code prompts are better answered by the strong model, others tie);
 * `learnOnce` trains a candidate and swaps it in only when it beats the serving router on newer,
 * held-out pairs; the gateway hot-reloads it and its judged APGR on fresh traffic is clearly above
 * 0.5. With a coin-flip judge nothing is swapped. `rollback` restores the previous router.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { learnOnce, readDecisions, rollback } from '../src/learning/learn.js';
import { defaultRouterPath } from '../src/routing/router.js';
import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { makePrompts, startLearningFixture, type LearningFixture } from './helpers/learning-fixture.js';
import { post, until } from './helpers/gateway-fixture.js';

async function gateway(fx: LearningFixture, name: string, router: string): Promise<Gateway> {
  const configPath = join(fx.dir, `${name}.yaml`);
  writeFileSync(configPath, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n');
  const config = resolveServeConfig({ registry: fx.registryPath, router, aliases: { strong: 'big', weak: 'small' }, policy: 'threshold', port: '0', config: configPath }, {});
  config.log = { ...config.log, kind: 'sqlite', path: join(fx.dir, `${name}.sqlite`), flushMs: 20 };
  return Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
}

/** Sends the prompts (16 at a time) and waits until each answer is judged. */
async function traffic(gw: Gateway, prompts: string[]): Promise<void> {
  const start = (await gw.learning.stats()).judged;
  for (let i = 0; i < prompts.length; i += 16) {
    const rs = await Promise.all(prompts.slice(i, i + 16).map((p) => post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }] })));
    for (const r of rs) expect(r.status).toBe(200);
  }
  await until(async () => (await gw.learning.stats()).judged === start + prompts.length, 'every answer judged');
  gw.log.flush();
}

describe('learn: guarded retraining on judged pairs', () => {
  let fx: LearningFixture;
  beforeAll(async () => {
    fx = await startLearningFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  it('swaps in a router that beats the serving one on held-out pairs; fresh traffic judges it clearly above 0.5; rollback restores', async () => {
    fx.mode = 'rule';
    const routerPath = join(fx.dir, 'serving.router');
    copyFileSync(defaultRouterPath(), routerPath);
    const original = readFileSync(routerPath);
    const gw = await gateway(fx, 'learn-rule', routerPath);
    try {
      await traffic(gw, makePrompts(400, 21));
      const serving = gw.router;
      const decision = await learnOnce({ logs: [join(fx.dir, 'learn-rule.sqlite')], router: routerPath, registry: fx.registryPath, aliases: { strong: 'big', weak: 'small' } });
      expect(decision.action, decision.reason).toBe('swap');
      expect(decision.pair).toEqual({ strong: 'big', weak: 'small' });
      expect(decision.after!.apgr!).toBeGreaterThan(decision.before!.apgr!);
      expect(decision.difference!.lower95).toBeGreaterThan(0);
      expect(decision.pairs!.heldOut).toBeGreaterThanOrEqual(30);
      expect(readFileSync(routerPath).equals(original)).toBe(false);
      expect(readFileSync(`${routerPath}.prev`).equals(original)).toBe(true);
      expect(readDecisions(routerPath).at(-1)!.action).toBe('swap');

      // The gateway watches the file: the new router serves; fresh, judged traffic measures it.
      await until(() => gw.router !== serving, 'the hot reload of the swapped router');
      const fresh = await gateway(fx, 'fresh', routerPath);
      try {
        await traffic(fresh, makePrompts(300, 1234));
        const q = (await fresh.learning.stats()).quality;
        process.stderr.write(`learn (rule judge): ${decision.reason}; fresh traffic: judged APGR ${q.apgr.value} (95% ${q.apgr.interval?.join('–')}, n = ${q.apgr.n})\n`);
        expect(q.apgr.value!).toBeGreaterThan(0.5);
        expect(q.apgr.interval![0]).toBeGreaterThan(0.5);
      } finally {
        await fresh.close();
      }

      const back = rollback(routerPath);
      expect(back.action).toBe('rollback');
      expect(readFileSync(routerPath).equals(original)).toBe(true);
    } finally {
      await gw.close();
    }
  });

  it('with a coin-flip judge, nothing is swapped', async () => {
    fx.mode = 'coin';
    const routerPath = join(fx.dir, 'coin.router');
    copyFileSync(defaultRouterPath(), routerPath);
    const original = readFileSync(routerPath);
    const gw = await gateway(fx, 'learn-coin', routerPath);
    try {
      await traffic(gw, makePrompts(400, 22));
      const decision = await learnOnce({ logs: [join(fx.dir, 'learn-coin.sqlite')], router: routerPath, registry: fx.registryPath, aliases: { strong: 'big', weak: 'small' } });
      expect(decision.action, decision.reason).not.toBe('swap');
      process.stderr.write(`learn (coin-flip judge): ${decision.action}: ${decision.reason}\n`);
      expect(readFileSync(routerPath).equals(original)).toBe(true);
      expect(readDecisions(routerPath).at(-1)!.action).toBe(decision.action);
    } finally {
      await gw.close();
    }
  });

  it('refuses bad arguments with clear messages', async () => {
    await expect(learnOnce({ logs: [], router: 'x.router', registry: fx.registryPath })).rejects.toThrow('options.logs');
    await expect(learnOnce({ logs: ['a.jsonl'], router: 'default', registry: fx.registryPath })).rejects.toThrow('the path of the serving .router file');
    expect(() => rollback(join(fx.dir, 'never-swapped.router'))).toThrow('nothing to roll back to');
  });
});
