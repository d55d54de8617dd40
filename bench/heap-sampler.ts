/**
 * Preload for a benchmarked server (`node --import <dist>/bench/heap-sampler.js ...`): V8's sampling
 * heap profiler over a window the benchmark chooses, counting every allocation sampled in it, also
 * the objects already collected (a heap snapshot, or `--heap-prof`'s profile, keeps only what is still
 * alive; a request's garbage is what costs scavenges). The first SIGUSR2 starts sampling, the second
 * stops it and writes the profile (`HeapProfiler.SamplingHeapProfile` JSON) to
 * `ROUTECORE_HEAP_PROFILE`, then prints `heap profile written` on stderr.
 *
 * With `ROUTECORE_HEAP_SURVIVORS=1` objects that die young (collected by a scavenge) are dropped from
 * the profile: what is left is what survived the young generation (promoted, later collected by a
 * mark-compact or still alive), the objects that make scavenges copy and major GCs mark.
 *
 * Used by `bench/profile-gateway.ts --heap-prof FILE [--survivors]`. Sampling every `ROUTECORE_HEAP_INTERVAL` bytes
 * (default 4096): each sample stands for about that many bytes, so the profile's sizes are estimates
 * of what was allocated, unbiased over many requests.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env['ROUTECORE_HEAP_PROFILE'];
if (out) {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      const interval = Number(process.env['ROUTECORE_HEAP_INTERVAL'] ?? 4096);
      void post('HeapProfiler.enable').then(() =>
        post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env['ROUTECORE_HEAP_SURVIVORS'] !== '1' }),
      );
      return;
    }
    sampling = false;
    void post('HeapProfiler.stopSampling').then((r) => {
      writeFileSync(out, JSON.stringify((r as { profile: unknown }).profile));
      process.stderr.write('heap profile written\n');
    });
  });
}
