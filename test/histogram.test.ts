import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledHistogram } from '../src/execution/histogram.js';

const BUCKETS = [25e-6, 100e-6, 0.001, 0.5, 2];
const OBSERVED: [string, number][] = [
  ['/v1/route', 0.00002],
  ['/v1/chat/completions', 0.0003],
  ['/v1/route', 0.0001], // on a bound: counted in that bucket
  ['/v1/chat/completions', 3], // above every bound: +Inf only
  ['/v1/route', 0.7],
  ['/v1/chat/completions', 0.0003],
];

/** prom-client's own Histogram and ours, fed the same observations, each in a registry of its own. */
async function expositions(): Promise<[string, string, Registry, Registry]> {
  const theirs = new Registry();
  const ours = new Registry();
  const h = new Histogram({ name: 'rc_test_seconds', help: 'A test histogram.', labelNames: ['route'] as const, buckets: BUCKETS, registers: [theirs] });
  const l = new LabelledHistogram({ name: 'rc_test_seconds', help: 'A test histogram.', labelName: 'route', buckets: BUCKETS });
  ours.registerMetric(l.asMetric());
  for (const [route, v] of OBSERVED) {
    h.observe({ route }, v);
    l.observe(route, v);
  }
  return [await theirs.metrics(), await ours.metrics(), theirs, ours];
}

describe('LabelledHistogram', () => {
  it("writes the same exposition as prom-client's Histogram for the same observations", async () => {
    const [theirs, ours] = await expositions();
    expect(ours).toBe(theirs);
    expect(ours).toContain('rc_test_seconds_bucket{le="0.0001",route="/v1/route"} 2');
    expect(ours).toContain('rc_test_seconds_bucket{le="+Inf",route="/v1/chat/completions"} 3');
    expect(ours).toContain('rc_test_seconds_count{route="/v1/chat/completions"} 3');
  });

  it('is summed over workers like a prom-client histogram, and reset by the registry', async () => {
    const [, , theirs, ours] = await expositions();
    const twice = async (r: Registry) => {
      const json = await r.getMetricsAsJSON();
      return AggregatorRegistry.aggregate([json, json]).metrics();
    };
    expect(await twice(ours)).toBe(await twice(theirs));
    ours.resetMetrics();
    expect(await ours.metrics()).toBe('# HELP rc_test_seconds A test histogram.\n# TYPE rc_test_seconds histogram\n');
  });
});
