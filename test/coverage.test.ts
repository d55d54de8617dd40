/**
 * Router.coverage: RouteLLM's benchmark–dataset similarity from the sketch of training prompts a
 * text router keeps in its file. Training prompts are covered (similarity ~1 for those in the
 * sketch), unrelated text much less; the sketch survives save and load; a router without one says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { evaluate, renderMarkdown } from '../src/evaluation/eval.js';
import { GatewayMetrics } from '../src/serve/metrics.js';
import { train } from '../src/training/train.js';

const built = typeof (binding() as { NativeTokenizer?: unknown }).NativeTokenizer === 'function';
if (!built) console.warn('coverage: the loaded addon predates coverage sketches; rebuild it (npm run build) to run these tests');

const tmp = mkdtempSync(join(tmpdir(), 'routecore-coverage-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const topics = ['integral equation derivative matrix', 'recipe bake flour sauce oven', 'football match goal referee league'];
const records = Array.from({ length: 90 }, (_, i) => ({
  id: `r${i}`,
  prompt: `Question ${i} about ${topics[i % 3]} and more ${topics[i % 3].split(' ')[i % 4]}`,
  scores: { a: i % 2, b: 1 - (i % 2) },
}));

describe.runIf(built)('coverage', () => {
  it('is high on training prompts, low on unrelated text, and survives save and load', async () => {
    const { router } = await train(records, { predictor: 'linear', maxEpochs: 3 });
    const seen = router.coverage(records.slice(0, 10).map((r) => r.prompt));
    const unseen = router.coverage(['Quelle est la capitale de la Mongolie ?', '量子计算机的工作原理是什么', 'zzz qqq xxyy wwvv']);
    expect(seen.perPrompt).toHaveLength(10);
    for (const v of seen.perPrompt) expect(v).toBeGreaterThan(0.99); // every training prompt is in the sketch (90 < 1,024)
    expect(unseen.mean).toBeLessThan(0.3);
    expect(seen.mean).toBeCloseTo(seen.perPrompt.reduce((a, b) => a + b, 0) / 10, 6);
    const file = join(tmp, 'c.router');
    await router.save(file);
    const again = Router.loadSync(file);
    expect(Array.from(again.coverage(['recipe with flour']).perPrompt)).toEqual(Array.from(router.coverage(['recipe with flour']).perPrompt));
    again.dispose();
    router.dispose();
  });

  it('appears in eval reports (JSON and Markdown), null for a router without a sketch', async () => {
    const { router } = await train(records, { predictor: 'linear', maxEpochs: 3 });
    const report = await evaluate(router, records.slice(0, 30));
    expect(report.coverage).toBeGreaterThan(0.99);
    expect(renderMarkdown(report)).toContain("Coverage (RouteLLM's benchmark–dataset similarity): ");
    router.dispose();
  });

  it('is a gateway gauge over a sample of recent chat traffic', async () => {
    const { router } = await train(records, { predictor: 'linear', maxEpochs: 2 });
    expect(router.recentCoverage()).toBeNull(); // nothing routed yet
    for (let i = 0; i < 40; i++) await router.routeChat({ messages: [{ role: 'user', content: records[i]!.prompt }] });
    const live = router.recentCoverage();
    expect(live).toBeGreaterThan(0.99); // the sampled texts are training prompts
    const metrics = new GatewayMetrics({
      log: () => ({ written: 0, queued: 0 }),
      stateErrors: () => 0,
      cooldowns: async () => 0,
      redisUp: () => null,
      draining: () => false,
      fleetDecisions: async () => new Map(),
      coverage: () => router.recentCoverage(),
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^routecore_router_coverage 0\.9\d*/m);
    router.dispose();
  });

  it('says so for a router trained on embeddings, and names bad prompts', async () => {
    const x = new Float32Array(records.length * 4).map((_, i) => Math.sin(i));
    const { router } = await train(records, { predictor: 'linear', embeddings: x, maxEpochs: 2 });
    expect(() => router.coverage(['text'])).toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_INVALID_ARGUMENT', message: expect.stringContaining('coverage needs a router that reads text') }));
    router.dispose();
    const { router: r2 } = await train(records, { predictor: 'linear', maxEpochs: 1 });
    expect(() => r2.coverage([''])).toThrow(expect.objectContaining({ code: 'ERR_ROUTECORE_INVALID_ARGUMENT', message: expect.stringContaining('prompts[0]') }));
    r2.dispose();
  });
});
