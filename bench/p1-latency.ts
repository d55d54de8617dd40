/**
 * P1: latency of one ≈500-character prompt through `routeSync` (hashing + mlp, CPU).
 *
 * Competitors, one function each, timed in interleaved blocks in this one process so drift (a
 * build starting, frequency changes) hits all of them alike:
 * - `routeSync`: the public path (validation, UTF-8 packing, native scoring, the Decision object);
 * - `native scoreSync`: the addon's scoring call alone on pre-packed UTF-8 (internal binding), i.e.
 *   the native share of a decision, N-API argument parsing included;
 * - `native encode`: the addon's feature hashing alone (internal; it returns three fresh typed
 *   arrays per call, so it slightly overstates the encoder's own cost).
 * Then benchmark.js gives the mean-with-error view of the first two.
 * @module
 */
import { readFileSync } from 'node:fs';
import Benchmark from 'benchmark';

import { Router } from '../src/index.js';
import { binding } from '../src/addon/native.js';
import { distribution, interleavedLatency, met, sink, timerOverheadNs, type Distribution, type Figure, type IndexedCall, type SetupInfo, type Suite } from './common.js';

function runBenchmarkJs(competitors: Record<string, IndexedCall>, promptCount: number, quick: boolean): Record<string, { hz: number; rmePct: number; meanUs: number; samples: number }> {
  const suite = new Benchmark.Suite('P1');
  for (const [name, f] of Object.entries(competitors)) {
    let i = 0;
    suite.add(name, () => f(i++ % promptCount), quick ? { maxTime: 0.05, minSamples: 2, initCount: 1 } : { maxTime: 2, minSamples: 20 });
  }
  const results: Record<string, { hz: number; rmePct: number; meanUs: number; samples: number }> = {};
  suite.on('cycle', (e: Benchmark.Event) => {
    const b = e.target as unknown as Benchmark;
    if (b.error) throw b.error;
    results[String(b.name)] = { hz: b.hz, rmePct: b.stats.rme, meanUs: b.stats.mean * 1e6, samples: b.stats.sample.length };
  });
  suite.run({ async: false });
  return results;
}

export const p1: Suite = {
  id: 'P1',
  title: 'one ≈500-char prompt, routeSync, hashing + mlp, CPU',
  async run(setup: SetupInfo) {
    const prompts = setup.p1Prompts;
    const n = prompts.length;
    const router = Router.loadSync(setup.routerPath, { backend: 'cpu', threads: setup.threads });
    const raw = binding().NativeRouter.load(readFileSync(setup.routerPath), setup.routerPath, 'cpu', setup.threads);
    const m = router.models.length;
    const packed = prompts.map((p) => Buffer.from(p, 'utf8'));
    const offsets = packed.map((b) => Uint32Array.of(0, b.length));
    const out = new Float32Array(m);

    const competitors: Record<string, IndexedCall> = {
      routeSync: (i) => {
        sink.n += router.routeSync(prompts[i]!).fallbacks.length;
      },
      'native scoreSync': (i) => {
        raw.scoreSync(packed[i]!, offsets[i]!, 1, out);
        sink.n += out[0]!;
      },
      'native encode': (i) => {
        sink.n += raw.encode(packed[i]!, offsets[i]!, 1).index.length;
      },
    };
    const calls = setup.quick ? 300 : 20_000;
    const warmup = setup.quick ? 100 : 3_000;
    const timerNs = timerOverheadNs();
    const samples = interleavedLatency(competitors, calls, warmup, setup.quick ? 100 : 1_000, n);
    const dist: Record<string, Distribution> = {};
    for (const [name, s] of Object.entries(samples)) dist[name] = distribution(s);

    // Mean-with-error view: routeSync against the raw native call (encode-only is left to the table above).
    const bjs = runBenchmarkJs({ routeSync: competitors.routeSync!, 'native scoreSync': competitors['native scoreSync']! }, n, setup.quick);

    const rs = dist.routeSync!;
    const ns = dist['native scoreSync']!;
    const en = dist['native encode']!;
    const figures: Figure[] = [
      met({ key: 'routeSync.p50', label: 'routeSync p50', value: rs.p50, unit: 'µs', target: { id: 'P1', op: '<=', value: 20 } }),
      met({ key: 'routeSync.p90', label: 'routeSync p90', value: rs.p90, unit: 'µs' }),
      met({ key: 'routeSync.p99', label: 'routeSync p99', value: rs.p99, unit: 'µs', target: { id: 'P1', op: '<=', value: 100 } }),
      met({ key: 'routeSync.max', label: 'routeSync max', value: rs.max, unit: 'µs' }),
      { key: 'native.p50', label: 'native scoreSync p50 (internal)', value: ns.p50, unit: 'µs' },
      { key: 'native.p99', label: 'native scoreSync p99 (internal)', value: ns.p99, unit: 'µs' },
      { key: 'encode.p50', label: 'native encode p50 (internal)', value: en.p50, unit: 'µs', note: 'returns 3 new typed arrays per call' },
      { key: 'nativeShare.p50', label: 'native share of routeSync (p50 ratio)', value: ns.p50 / rs.p50, unit: 'ratio' },
    ];
    for (const [name, r] of Object.entries(bjs)) {
      const slug = name === 'routeSync' ? 'routeSync' : 'native';
      figures.push({ key: `${slug}.hz`, label: `${name} benchmark.js`, value: r.hz, unit: 'ops/s', note: `±${r.rmePct.toFixed(2)}% rme, mean ${r.meanUs.toFixed(2)} µs, ${r.samples} samples` });
    }
    router.dispose();
    raw.dispose();
    return {
      id: 'P1',
      title: p1.title,
      figures,
      details: {
        calls,
        warmup,
        prompts: n,
        models: m,
        timerOverheadNs: timerNs,
        latencyUs: dist,
        benchmarkJs: bjs,
      },
    };
  },
};
