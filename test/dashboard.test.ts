/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * loads GET /dashboard from a running gateway with shadow judging and a learning round behind it, and
 * the test reads the rendered figures back against GET /v1/stats. Skips, saying why, without Chromium
 * (`apt-get install -y chromium`). With ROUTECORE_DASHBOARD_SCREENSHOT=path it also saves a screenshot.
 */
import { existsSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { defaultRouterPath } from '../src/routing/router.js';
import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { makePrompts, startLearningFixture, type LearningFixture } from './helpers/learning-fixture.js';
import type { StatsBody } from '../src/learning/live.js';
import { post, until } from './helpers/gateway-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const why = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install -y chromium); the dashboard browser test is skipped`;
if (why) console.warn(why);

describe.skipIf(why !== undefined)('GET /dashboard in headless Chromium', () => {
  let fx: LearningFixture;
  let gw: Gateway;
  beforeAll(async () => {
    fx = await startLearningFixture();
    fx.mode = 'rule';
    const routerPath = join(fx.dir, 'serving.router');
    copyFileSync(defaultRouterPath(), routerPath);
    const configPath = join(fx.dir, 'dash.yaml');
    writeFileSync(configPath, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\nlearn:\n  everyMinutes: 600\n  minPairs: 100\n');
    const config = resolveServeConfig({ registry: fx.registryPath, router: routerPath, aliases: { strong: 'big', weak: 'small' }, policy: 'threshold', port: '0', config: configPath }, {});
    config.log = { ...config.log, kind: 'sqlite', path: join(fx.dir, 'dash.sqlite'), flushMs: 20 };
    gw = await Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
    const prompts = makePrompts(240, 31);
    for (let i = 0; i < prompts.length; i += 16) {
      await Promise.all(prompts.slice(i, i + 16).map((p, k) => post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }], ...((i + k) % 4 === 0 ? { stream: true } : {}) })));
    }
    await until(async () => (await gw.learning.stats()).judged === prompts.length, 'the answers judged');
    // One failing upstream call: a fallback and an error on the page (its own shadow calls may meet the fault too).
    fx.small.queue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await post(`${gw.url}/v1/chat/completions`, { model: 'small', messages: [{ role: 'user', content: 'hello' }] });
    await gw.learning.shadow!.idle();
    const decision = await gw.learning.learnNow();
    expect(decision?.action).toBe('swap');
  });
  afterAll(async () => {
    await gw?.close();
    await fx?.close();
  });

  it('renders the live figures of /v1/stats', async () => {
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'routecore-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 1100 },
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${gw.url}/dashboard?every=500`);
      await page.waitForFunction(() => document.body.dataset['updated'] !== undefined, undefined, { timeout: 20_000 });
      // Two polls so the request rate and the charts have points.
      const first = await page.evaluate(() => document.body.dataset['updated']);
      await page.waitForFunction((f) => document.body.dataset['updated'] !== f, first, { timeout: 20_000 });
      const stats = (await (await fetch(`${gw.url}/v1/stats`)).json()) as StatsBody;
      const text = async (id: string) => (await page.textContent(`#${id}`))!.trim();
      expect(await text('requests-total')).toBe(String(stats.requests.total));
      expect(await text('judged')).toBe(String(stats.judged));
      expect(await text('fallbacks')).toBe(String(stats.fallbacks));
      expect(Number(await text('errors'))).toBeGreaterThan(0);
      const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
      const q = stats.quality.routerAsGood;
      expect(await text('quality')).toBe(pct(q.value));
      expect(await text('quality-detail')).toContain(`[${pct(q.interval[0])}–${pct(q.interval[1])}], n = ${q.n}`);
      expect(await text('saving')).toBe(pct(stats.quality.saving.value));
      expect(await text('apgr')).toContain(`n = ${stats.quality.apgr.n}`);
      expect(await text('p50')).toBe(stats.latencyMs.p50.toFixed(1));
      expect(await text('learn-action')).toBe('swap');
      expect(await text('learn-detail')).toContain('held-out APGR');
      const rows = await page.$$eval('#models tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      const big = rows.find((r) => r[0] === 'big')!;
      expect(big[1]).toBe(String(stats.models.big.answers));
      expect(big[2]).toBe(pct(stats.models.big.share));
      // uPlot drew three charts.
      expect(await page.$$eval('.uplot canvas', (c) => c.length)).toBeGreaterThanOrEqual(3);
      expect(errors).toEqual([]);
      const shot = process.env['ROUTECORE_DASHBOARD_SCREENSHOT'];
      if (shot) {
        // For the docs: some more traffic under the page's eyes, so the charts have a history.
        for (const [i, p] of makePrompts(120, 77).entries()) {
          await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }] });
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 250));
        }
        await gw.learning.shadow!.idle();
        await new Promise((r) => setTimeout(r, 1200));
        await page.screenshot({ path: shot, fullPage: true });
      }
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
