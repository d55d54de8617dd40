/**
 * P3: many concurrent callers of async `route()`, micro-batched. Each caller loops
 * `await router.route(next prompt)`; we sweep 1, 10, 100 and 1,000 callers and report throughput
 * and per-call latency (call to resolution) at each level.
 *
 * Competitors, interleaved round by round in this one process:
 * - `route`: the default router (maxBatchSize 256, maxWaitMs 0: a batch is whatever arrived within
 *   one event-loop turn; batches of more than 8 prompts are scored on the addon's thread pool);
 * - `route, no batching`: the same file loaded with maxBatchSize 1, so every call is scored alone on
 *   the JS thread: what micro-batching buys is the ratio of the two.
 * At one caller a third runs: a plain `routeSync` loop, for what the async path costs a lone caller.
 * Percentiles are per round, then the median over rounds; the micro-batcher's counters
 * (stats().batches vs routed) give the average batch each level produced.
 * @module
 */
import { Router } from '../src/index.js';
import { distribution, median, met, pairedRatio, settle, sink, type Figure, type SetupInfo, type Suite } from './common.js';

const LEVELS = [1, 10, 100, 1000];
/** Open-loop arrival rates (prompts/s): half the P3 rate, and the P3 rate. */
const RATES = [25_000, 50_000];
const P3_LEVEL = 1000;

interface RoundResult {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  routed: number;
  batches: number;
}

/** `callers` concurrent loops of `await router.route(...)` for about `ms`; per-call latency in ms. */
async function drive(router: Router, prompts: readonly string[], callers: number, ms: number, start: number): Promise<RoundResult> {
  const before = router.stats();
  const lat: number[] = [];
  let next = start;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const caller = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const p = prompts[next++ % prompts.length]!;
      const s = performance.now();
      const d = await router.route(p);
      lat.push(performance.now() - s);
      sink.n += d.fallbacks.length;
    }
  };
  const loops: Promise<void>[] = [];
  for (let c = 0; c < callers; c++) loops.push(caller());
  await Promise.all(loops);
  const seconds = (performance.now() - t0) / 1000;
  const after = router.stats();
  const d = distribution(lat);
  return { throughput: lat.length / seconds, p50Ms: d.p50, p99Ms: d.p99, maxMs: d.max, routed: after.routed - before.routed, batches: after.batches - before.batches };
}

interface OpenLoopResult {
  offered: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  maxOutstanding: number;
  routed: number;
}

/**
 * Open loop: prompts arrive on a fixed schedule of `rate` per second whatever the router does (as
 * from 1,000 callers each sending 50/s), for about `ms`. Latency counts from each prompt's
 * scheduled time, so time spent queued behind a late schedule is not hidden.
 */
function openLoop(router: Router, prompts: readonly string[], rate: number, ms: number, start: number): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const t0 = performance.now();
    let issued = 0;
    let outstanding = 0;
    let maxOutstanding = 0;
    let closed = false;
    const finish = (): void => {
      const seconds = (performance.now() - t0) / 1000;
      const d = distribution(lat);
      resolve({ offered: rate, achieved: lat.length / seconds, p50Ms: d.p50, p99Ms: d.p99, maxOutstanding, routed: lat.length });
    };
    const tick = (): void => {
      const now = performance.now();
      const due = Math.floor((Math.min(now - t0, ms) * rate) / 1000);
      while (issued < due) {
        const intended = t0 + (issued * 1000) / rate;
        const p = prompts[(start + issued) % prompts.length]!;
        issued++;
        outstanding++;
        router.route(p).then((d) => {
          lat.push(performance.now() - intended);
          sink.n += d.fallbacks.length;
          outstanding--;
          if (closed && outstanding === 0) finish();
        }, reject);
      }
      if (outstanding > maxOutstanding) maxOutstanding = outstanding;
      if (now - t0 < ms) setImmediate(tick);
      else {
        closed = true;
        if (outstanding === 0) finish();
      }
    };
    tick();
  });
}

/** Lone-caller latency of routeSync and of await route(), alternating blocks; µs per call. */
async function loneCaller(router: Router, prompts: readonly string[], calls: number, block: number): Promise<{ routeSync: number[]; route: number[] }> {
  const out = { routeSync: [] as number[], route: [] as number[] };
  for (let i = 0; i < 200; i++) {
    sink.n += router.routeSync(prompts[i % prompts.length]!).fallbacks.length;
    sink.n += (await router.route(prompts[i % prompts.length]!)).fallbacks.length;
  }
  let i = 0;
  while (out.route.length < calls) {
    for (let k = 0; k < block; k++) {
      const p = prompts[i++ % prompts.length]!;
      const t0 = process.hrtime.bigint();
      sink.n += router.routeSync(p).fallbacks.length;
      out.routeSync.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    for (let k = 0; k < block; k++) {
      const p = prompts[i++ % prompts.length]!;
      const t0 = process.hrtime.bigint();
      sink.n += (await router.route(p)).fallbacks.length;
      out.route.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  return out;
}

export const p3: Suite = {
  id: 'P3',
  title: 'concurrent route() callers, micro-batched, CPU, 2 threads',
  async run(setup: SetupInfo) {
    const prompts = setup.p1Prompts;
    const batched = Router.loadSync(setup.routerPath, { backend: 'cpu', threads: setup.threads });
    const unbatched = Router.loadSync(setup.routerPath, { backend: 'cpu', threads: setup.threads, maxBatchSize: 1 });
    const rounds = setup.quick ? 2 : 5;
    const roundMs = setup.quick ? 60 : 600;
    const competitors: Record<string, Router> = { route: batched, 'route, no batching': unbatched };

    // Warm both paths at every level (JIT, the addon's pool, scratch buffers).
    for (const level of LEVELS) for (const r of Object.values(competitors)) await drive(r, prompts, level, setup.quick ? 10 : 100, 0);
    settle();

    const byLevel: Record<number, Record<string, RoundResult[]>> = {};
    const byRate: Record<number, OpenLoopResult[]> = {};
    let offset = 0;
    for (let round = 0; round < rounds; round++) {
      for (const rate of RATES) {
        const res = await openLoop(batched, prompts, rate, roundMs, offset);
        offset += res.routed;
        byRate[rate] ??= [];
        byRate[rate].push(res);
      }
      for (const level of LEVELS) {
        byLevel[level] ??= {};
        const names = Object.keys(competitors);
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + round) % names.length]!;
          const res = await drive(competitors[name]!, prompts, level, roundMs, offset);
          offset += res.routed;
          const runs = byLevel[level]!;
          runs[name] ??= [];
          runs[name].push(res);
        }
      }
    }
    const lone = await loneCaller(batched, prompts, setup.quick ? 300 : 20_000, setup.quick ? 100 : 1000);

    const figures: Figure[] = [];
    const summary: Record<string, Record<string, unknown>> = {};
    for (const level of LEVELS) {
      const b = byLevel[level]!.route!;
      const u = byLevel[level]!['route, no batching']!;
      const routed = b.reduce((s, r) => s + r.routed, 0);
      const batches = b.reduce((s, r) => s + r.batches, 0);
      const tput = median(b.map((r) => r.throughput));
      const p50 = median(b.map((r) => r.p50Ms));
      const p99 = median(b.map((r) => r.p99Ms));
      const gain = pairedRatio(b.map((r) => r.throughput), u.map((r) => r.throughput));
      const target = level === P3_LEVEL;
      figures.push(
        met({
          key: `route.${level}.throughput`,
          label: `${level} callers: route() throughput`,
          value: tput,
          unit: 'prompts/s',
          ...(target ? { target: { id: 'P3', op: '>=' as const, value: 50_000 } } : {}),
          note: `rounds ${Math.round(Math.min(...b.map((r) => r.throughput)))}–${Math.round(Math.max(...b.map((r) => r.throughput)))}`,
        }),
        met({ key: `route.${level}.p50`, label: `${level} callers: route() p50 latency`, value: p50, unit: 'ms' }),
        met({ key: `route.${level}.p99`, label: `${level} callers: route() p99 latency`, value: p99, unit: 'ms', ...(target ? { target: { id: 'P3', op: '<=' as const, value: 5 } } : {}) }),
        { key: `route.${level}.avgBatch`, label: `${level} callers: average micro-batch`, value: routed / Math.max(1, batches), unit: 'prompts', note: `${batches} native calls for ${routed} prompts` },
        { key: `unbatched.${level}.throughput`, label: `${level} callers: no batching, throughput`, value: median(u.map((r) => r.throughput)), unit: 'prompts/s' },
        { key: `unbatched.${level}.p99`, label: `${level} callers: no batching, p99 latency`, value: median(u.map((r) => r.p99Ms)), unit: 'ms' },
        { key: `batchingGain.${level}`, label: `${level} callers: batched / unbatched throughput`, value: gain, unit: 'ratio', note: 'median of per-round ratios' },
      );
      summary[level] = { route: b, unbatched: u };
    }
    for (const rate of RATES) {
      const o = byRate[rate]!;
      figures.push(
        { key: `open.${rate}.achieved`, label: `open loop, ${rate.toLocaleString('en-US')}/s offered: achieved`, value: median(o.map((r) => r.achieved)), unit: 'prompts/s' },
        { key: `open.${rate}.p50`, label: `open loop, ${rate.toLocaleString('en-US')}/s offered: p50 latency`, value: median(o.map((r) => r.p50Ms)), unit: 'ms' },
        { key: `open.${rate}.p99`, label: `open loop, ${rate.toLocaleString('en-US')}/s offered: p99 latency`, value: median(o.map((r) => r.p99Ms)), unit: 'ms', note: `max in flight ${Math.max(...o.map((r) => r.maxOutstanding))}; from scheduled time` },
      );
    }
    const ls = distribution(lone.routeSync);
    const lr = distribution(lone.route);
    figures.push(
      { key: 'lone.routeSync.p50', label: '1 caller: routeSync p50', value: ls.p50, unit: 'µs' },
      { key: 'lone.route.p50', label: '1 caller: await route() p50', value: lr.p50, unit: 'µs' },
      { key: 'lone.route.p99', label: '1 caller: await route() p99', value: lr.p99, unit: 'µs' },
      { key: 'lone.cost', label: '1 caller: route / routeSync (p50)', value: lr.p50 / ls.p50, unit: 'ratio', note: 'the event-loop turn a lone caller waits for company' },
    );
    batched.dispose();
    unbatched.dispose();
    return {
      id: 'P3',
      title: p3.title,
      figures,
      details: { levels: LEVELS, rounds, roundMs, threads: setup.threads, maxBatchSize: 256, maxWaitMs: 0, perRound: summary, openLoop: byRate, loneCallerUs: { routeSync: ls, route: lr } },
    };
  },
};
