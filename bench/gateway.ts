/**
 * P10: `routecore serve` with one worker and with N workers, against the mock upstream directly and
 * against Portkey's open-source gateway on the same mock, in one run. Every server and the load
 * generator (autocannon) run in their own processes; with `--pin` (default when `taskset` exists and
 * there are at least 2 CPUs) the load generator and the mock share the last CPU and each gateway gets
 * the others, so a gateway's figure is not its load generator's. At each connection level the targets
 * run one after another, their order rotating per level.
 *
 * `node dist/bench/gateway.js [--connections 1,32] [--duration 3] [--rounds 1] [--warmup 10] [--workers 2] [--no-pin] [--no-portkey] [--rates 1000,3000] [--json FILE]`
 * (`npm run bench:gateway`).
 *
 * `--rates`: after the saturated runs, the mock and the one-worker gateway at each fixed offered rate
 * (open loop, evenly spaced requests; see {@link pacedChild}), reported in a table of their own: the
 * overhead of a request that does not queue behind the others' work, the figure peers publish at a
 * fixed rate (e.g. Bifrost at 5,000 RPS). The saturated overhead column stays what it was.
 *
 * Per run it reports req/s and client-side p50/p99 (autocannon's per-response times, fractional ms),
 * the gateway's own overhead p50 (its `routecore_gateway_overhead_seconds` histogram, upstream wait
 * excluded, scraped before and after the run and interpolated within a bucket), and the CPU time each
 * process group used per request (from /proc: the gateway and its workers, the load generator, the
 * mock), which says where a 2-core machine's cycles go when N workers cannot scale.
 * Added latency = routecore p50 − mock p50 at the same connections, same run.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { pinned, rotatingRuns, startServer, writeBenchRegistry, type Server } from './servers.js';

import { packageRoot } from '../src/addon/native.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,32' },
    duration: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    json: { type: 'string' },
    child: { type: 'string' },
    spec: { type: 'string' },
    'no-portkey': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    /** Offered rates (req/s) for the one-worker gateway's overhead below saturation; `''` skips them. */
    rates: { type: 'string', default: '1000,3000' },
    /**
     * Saturated runs repeated this many times (target order rotating). The tables give medians over
     * rounds, and the ratio to Portkey is the median of each round's ratio: a round's two runs are
     * seconds apart, so a slow phase of a shared machine moves both.
     */
    rounds: { type: 'string', default: '1' },
    /**
     * Warm-up per target before any measured run (seconds at 32 connections). Portkey's CPU per request
     * kept falling for its first ~10,000 requests (JIT); 1 s at 8 connections, the old warm-up, left it
     * 1.5-3x above its steady state, and every ratio measured after it too high.
     */
    warmup: { type: 'string', default: '10' },
  },
  strict: true,
});

const PROMPT = 'A train leaves the station at 3pm travelling at 60 miles per hour. A second train leaves the same station at 4pm at 80 miles per hour on the same track. At what time does the second train catch up with the first, and how far from the station?';

/** Child mode: one mock upstream on a free port, printing it; requests are not kept (the mock records them for tests). */
async function mockChild(): Promise<void> {
  const { startMockUpstream } = await import('../test/helpers/mock-upstream.js');
  const mock = await startMockUpstream({ name: 'mock' });
  setInterval(() => (mock.requests.length = 0), 200).unref();
  process.stdout.write(`port ${mock.port}\n`);
  process.on('SIGTERM', () => void mock.close().then(() => process.exit(0)));
}

interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
}

interface LoadResult {
  /** CPU seconds the load generator process used (its own process.cpuUsage at the end). */
  cpu: number;
  requests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Child mode: autocannon against one target; prints one JSON result line. */
async function loadChild(spec: LoadSpec): Promise<void> {
  const latencies: number[] = [];
  const instance = autocannon({ url: spec.url, method: 'POST', headers: { 'content-type': 'application/json', ...spec.headers }, body: spec.body, connections: spec.connections, duration: spec.seconds, pipelining: 1 });
  (instance as unknown as { on(e: string, f: (c: unknown, s: number, b: number, ms: number) => void): void }).on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  const used = process.cpuUsage();
  const out: LoadResult = { cpu: (used.user + used.system) / 1e6, requests: latencies.length, non2xx: result.non2xx, errors: result.errors + result.timeouts, rps: latencies.length / spec.seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** What a paced (open-loop) run sends: `rate` requests per second, evenly spaced, whatever the answers' pace. */
interface PacedSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  rate: number;
  seconds: number;
}

/**
 * Child mode: an open-loop load at a fixed offered rate (requests sent on a schedule, each at its time
 * whether or not earlier ones were answered, in 1 ms steps, over up to 256 keep-alive connections), so that the
 * gateway is measured below saturation, where a request does not wait for the others' work. autocannon's
 * own rate limit sends each second's budget in a burst, which is saturation again. Prints one JSON line.
 */
async function pacedChild(spec: PacedSpec): Promise<void> {
  const { Pool } = await import('undici');
  const u = new URL(spec.url);
  const pool = new Pool(u.origin, { connections: 256, pipelining: 1 });
  const total = Math.round(spec.rate * spec.seconds);
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  const send = () => {
    const start = performance.now();
    return pool
      .request({ path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', ...spec.headers }, body: spec.body })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - start);
        else non2xx++;
      })
      .catch(() => {
        errors++;
      });
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * spec.rate) + 1);
    while (sent < due) {
      inflight.push(send());
      sent++;
    }
    // Sleep until the next send is due, at least 1 ms (a timer's granularity): above 1,000 req/s the
    // requests due in each millisecond go together. Spinning on setImmediate instead would take the
    // CPU this process shares with the mock.
    const wait = t0 + (sent / spec.rate) * 1000 - performance.now();
    await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(wait))));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(inflight);
  await pool.close();
  const sorted = Float64Array.from(latencies).sort();
  const used = process.cpuUsage();
  const out: LoadResult = { cpu: (used.user + used.system) / 1e6, requests: latencies.length, non2xx, errors, rps: latencies.length / sendSeconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** Starts a benchmark server pinned to `cpuList` (undefined: not pinned); the gateways may take 90 s to get ready on a loaded machine. */
function start(name: string, cpuList: string | undefined, cmd: string[], env: Record<string, string>, portFrom: RegExp, fixedPort?: number): Promise<Server> {
  return startServer(name, cmd, env, portFrom, { cpuList, fixedPort, timeoutMs: 90_000 });
}

/** CPU seconds (user + system) of a process and its descendants so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const visit = (p: number) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick;
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) if (t) visit(Number(t));
    } catch {
      // gone
    }
  };
  visit(pid);
  return total;
}

/** Bucket counts of the gateway's overhead histogram for chat completions (cumulative, by `le`). */
async function overheadBuckets(port: number): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } })).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^routecore_gateway_overhead_seconds_bucket\{le="([^"]+)",route="\/v1\/chat\/completions"\} (\d+)/gm)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  for (const m of text.matchAll(/^routecore_gateway_overhead_seconds_bucket\{route="\/v1\/chat\/completions",le="([^"]+)"\} (\d+)/gm)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return out;
}

/** p50 (µs) of the requests observed between two scrapes, interpolated linearly inside its bucket. */
function overheadP50(before: Map<number, number>, after: Map<number, number>): number {
  return overheadQuantile(before, after, 0.5);
}

/** Quantile `q` (µs) of the requests observed between two scrapes, interpolated linearly inside its bucket. */
function overheadQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const delta = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const n = delta[delta.length - 1] ?? 0;
  if (n === 0) return NaN;
  const half = n * q;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < les.length; i++) {
    if (delta[i]! >= half) {
      const le = les[i]!;
      if (!Number.isFinite(le)) return prevLe * 1e6;
      const inBucket = delta[i]! - prevCount;
      return (prevLe + ((half - prevCount) / Math.max(1, inBucket)) * (le - prevLe)) * 1e6;
    }
    prevLe = les[i]!;
    prevCount = delta[i]!;
  }
  return NaN;
}

interface Target {
  name: string;
  server: Server;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The port to scrape for the overhead histogram (routecore targets). */
  metricsPort?: number;
}

interface Run extends LoadResult {
  target: string;
  connections: number;
  /** Which repetition (0-based) of the saturated runs. */
  round: number;
  /** The gateway's own overhead p50, µs (routecore targets). */
  overheadP50Us?: number;
  /** CPU ms per 1,000 requests: the target's processes, the load generator, the mock. */
  cpuMsPer1k: { target: number; load: number; mock: number };
}

async function main(): Promise<void> {
  if (args.child === 'mock') return mockChild();
  if (args.child === 'load') return loadChild(JSON.parse(args.spec!) as LoadSpec);
  if (args.child === 'paced') return pacedChild(JSON.parse(args.spec!) as PacedSpec);
  const levels = args.connections.split(',').map((s) => Number(s.trim()));
  const seconds = Number(args.duration);
  const workers = Number(args.workers);
  const n = cpus().length;
  const pin = !args['no-pin'] && n >= 2 && existsSync('/usr/bin/taskset');
  // The load generator and the mock on the last CPU; a one-worker gateway (and Portkey) on the first;
  // N workers on the first N (on a 2-core machine that includes the load generator's CPU, which is the point of the CPU columns).
  const loadCpus = pin ? String(n - 1) : undefined;
  const oneCpu = pin ? '0' : undefined;
  const manyCpus = pin ? (workers < n ? `0-${workers - 1}` : `0-${n - 1}`) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'routecore-bench-gw-'));
  const servers: Server[] = [];
  const self = fileURLToPath(import.meta.url);
  try {
    const mock = await start('mock', loadCpus, [self, '--child', 'mock'], {}, /port (\d+)/);
    servers.push(mock);
    const mockBase = `http://127.0.0.1:${mock.port}/v1`;
    const registry = writeBenchRegistry(dir, mockBase);
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const serve = async (name: string, cpuList: string | undefined, extra: string[], logName: string) => {
      const config = join(dir, `${logName}.yaml`);
      writeFileSync(config, `log: {kind: sqlite, path: ${join(dir, `${logName}.sqlite`)}}\n`);
      const ready = extra.includes('--workers') ? /listening on http:\/\/127\.0\.0\.1:(\d+) with/ : /listening on http:\/\/127\.0\.0\.1:(\d+)/;
      return start(name, cpuList, [cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config, ...extra], { BENCH_KEY: 'sk-bench-0000000000', ROUTECORE_BACKEND: 'cpu', ROUTECORE_THREADS: '1' }, ready);
    };
    const one = await serve('routecore 1 worker', oneCpu, [], 'one');
    servers.push(one);
    const many = workers > 1 ? await serve(`routecore ${workers} workers`, manyCpus, ['--workers', String(workers)], 'many') : undefined;
    if (many) servers.push(many);
    let portkey: Server | undefined;
    if (!args['no-portkey']) {
      const pkPort = 20000 + Math.floor(Math.random() * 20000);
      const pkMain = resolve(packageRoot(), 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
      portkey = await start('portkey', oneCpu, [pkMain, `--port=${pkPort}`, '--headless'], { NODE_ENV: 'production' }, /(running at|Ready for connections|listening)/i, pkPort);
      servers.push(portkey);
    }
    const body = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPT }] });
    const targets: Target[] = [
      { name: 'mock direct', server: mock, url: `${mockBase}/chat/completions`, headers: { authorization: 'Bearer sk-bench' }, body: JSON.stringify({ model: 'big', messages: [{ role: 'user', content: PROMPT }] }) },
      { name: 'routecore 1 worker', server: one, url: `http://127.0.0.1:${one.port}/v1/chat/completions`, headers: {}, body, metricsPort: one.port },
    ];
    if (many) targets.push({ name: `routecore ${workers} workers`, server: many, url: `http://127.0.0.1:${many.port}/v1/chat/completions`, headers: {}, body });
    if (portkey) {
      targets.push({
        name: 'portkey gateway',
        server: portkey,
        url: `http://127.0.0.1:${portkey.port}/v1/chat/completions`,
        headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': mockBase },
        body: JSON.stringify({ model: 'big', messages: [{ role: 'user', content: PROMPT }] }),
      });
    }
    const loadStart = loadavg()[0]!;
    console.log(`P10 gateway benchmark: ${n} CPUs, load average ${loadStart.toFixed(2)} at start; ${seconds} s per run; connections ${levels.join(', ')}; ` + (pin ? `pinned: load generator + mock on CPU ${loadCpus}, 1 worker and Portkey on CPU ${oneCpu}, ${workers} workers on CPUs ${manyCpus}` : 'not pinned'));
    // Warm-up: JIT, connection pools, the router's first batches (see --warmup).
    for (const t of targets) await loadWithCpu(self, loadCpus, { url: t.url, headers: t.headers, body: t.body, connections: 32, seconds: Number(args.warmup) });
    const runs: Run[] = [];
    const rounds = Number(args.rounds);
    for (const { round, connections: c, target: t } of rotatingRuns(rounds, levels, targets)) {
      const before = t.metricsPort ? await overheadBuckets(t.metricsPort) : undefined;
      const cpu0 = { target: t.server === mock ? 0 : cpuSeconds(t.server.child.pid), mock: cpuSeconds(mock.child.pid) };
      const r = await loadWithCpu(self, loadCpus, { url: t.url, headers: t.headers, body: t.body, connections: c, seconds });
      const after = t.metricsPort ? await overheadBuckets(t.metricsPort) : undefined;
      const per1k = (s: number) => (r.result.requests > 0 ? (1000 * s * 1000) / r.result.requests : NaN);
      const run: Run = {
        target: t.name,
        connections: c,
        round,
        ...r.result,
        cpuMsPer1k: { target: t.server === mock ? NaN : per1k(cpuSeconds(t.server.child.pid) - cpu0.target), load: per1k(r.loadCpu), mock: per1k(cpuSeconds(mock.child.pid) - cpu0.mock) },
      };
      if (before && after) run.overheadP50Us = overheadP50(before, after);
      runs.push(run);
      console.log(
        (rounds > 1 ? `  round ${round + 1}` : '') +
        `  ${String(c).padStart(3)} conn  ${t.name.padEnd(20)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50.toFixed(3)} ms  p99 ${run.p99.toFixed(3)} ms` +
          (run.overheadP50Us !== undefined ? `  overhead p50 ${run.overheadP50Us.toFixed(0)} µs` : '') +
          `  CPU ms/1k req: target ${run.cpuMsPer1k.target.toFixed(0)}, load ${run.cpuMsPer1k.load.toFixed(0)}, mock ${run.cpuMsPer1k.mock.toFixed(0)}  (non-2xx ${run.non2xx}, errors ${run.errors})`,
      );
    }
    // Below saturation: the one-worker gateway (and the mock, for the added latency) at fixed offered rates.
    const rates = args.rates.split(',').map((x) => Number(x.trim())).filter((x) => x > 0);
    const paced: PacedRun[] = [];
    const one1 = targets.find((t) => t.name === 'routecore 1 worker')!;
    const mockT = targets.find((t) => t.name === 'mock direct')!;
    for (const rate of rates) {
      for (const t of [mockT, one1]) {
        const before = t.metricsPort ? await overheadBuckets(t.metricsPort) : undefined;
        const cpu0 = t.server === mock ? 0 : cpuSeconds(t.server.child.pid);
        const r = await pacedWithCpu(self, loadCpus, { url: t.url, headers: t.headers, body: t.body, rate, seconds });
        const after = t.metricsPort ? await overheadBuckets(t.metricsPort) : undefined;
        const run: PacedRun = { target: t.name, offered: rate, ...r, cpuUsPerRequest: t.server === mock ? NaN : ((cpuSeconds(t.server.child.pid) - cpu0) * 1e6) / Math.max(1, r.requests) };
        if (before && after) {
          run.overheadP50Us = overheadQuantile(before, after, 0.5);
          run.overheadP99Us = overheadQuantile(before, after, 0.99);
        }
        paced.push(run);
        console.log(
          `  offered ${String(rate).padStart(5)}/s  ${t.name.padEnd(20)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50.toFixed(3)} ms  p99 ${run.p99.toFixed(3)} ms` +
            (run.overheadP50Us !== undefined ? `  overhead p50 ${run.overheadP50Us.toFixed(0)} µs, p99 ${run.overheadP99Us!.toFixed(0)} µs` : '') +
            `  (non-2xx ${run.non2xx}, errors ${run.errors})`,
        );
      }
    }
    const loadEnd = loadavg()[0]!;
    const md: string[] = [
      `| connections | mock req/s (p50 ms) | routecore 1 worker req/s (p50 ms) | added p50 ms | overhead p50 µs | routecore ${workers} workers req/s (p50 ms) | ${workers} / 1 worker | portkey req/s (p50 ms) | 1 worker / portkey |`,
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    // Per connection level and target, the median over rounds of each figure; ratios are medians of each round's ratio.
    const median = (xs: number[]) => {
      const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      return v.length === 0 ? NaN : v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    };
    const of = (c: number, target: string) => runs.filter((r) => r.connections === c && r.target === target);
    const med = (rs: Run[]) => (rs.length === 0 ? undefined : { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), overhead: median(rs.map((r) => r.overheadP50Us ?? NaN)) });
    const ratio = (a: Run[], b: Run[]) => median(a.map((r) => r.rps / (b.find((x) => x.round === r.round)?.rps ?? NaN)));
    const ratios: string[] = [];
    for (const c of levels) {
      const [mr, gr, wr, pr] = ['mock direct', 'routecore 1 worker', `routecore ${workers} workers`, 'portkey gateway'].map((t) => of(c, t));
      const m = med(mr!)!;
      const g = med(gr!)!;
      const w = med(wr!);
      const p = med(pr!);
      md.push(
        `| ${c} | ${m.rps.toFixed(0)} (${m.p50.toFixed(3)}) | ${g.rps.toFixed(0)} (${g.p50.toFixed(3)}) | ${median(gr!.map((r) => r.p50 - (mr!.find((x) => x.round === r.round)?.p50 ?? NaN))).toFixed(3)} | ${Number.isNaN(g.overhead) ? '-' : g.overhead.toFixed(0)} | ` +
          (w ? `${w.rps.toFixed(0)} (${w.p50.toFixed(3)}) | ${ratio(wr!, gr!).toFixed(2)}x | ` : '- | - | ') +
          (p ? `${p.rps.toFixed(0)} (${p.p50.toFixed(3)}) | ${ratio(gr!, pr!).toFixed(1)}x |` : '- | - |'),
      );
      if (rounds > 1 && pr!.length > 0) ratios.push(`${c} conn: ${gr!.map((r) => (r.rps / (pr!.find((x) => x.round === r.round)?.rps ?? NaN)).toFixed(1) + 'x').join(', ')}`);
    }
    if (ratios.length > 0) md.push('', `1 worker / Portkey in each round: ${ratios.join('; ')}.`);
    md.push('', 'CPU time per 1,000 requests (ms; user + system, from /proc), the same runs:', '', '| connections | target | target processes | load generator | mock |', '| ---: | --- | ---: | ---: | ---: |');
    for (const r of runs) md.push(`| ${r.connections}${rounds > 1 ? ` (round ${r.round + 1})` : ''} | ${r.target} | ${Number.isNaN(r.cpuMsPer1k.target) ? '-' : r.cpuMsPer1k.target.toFixed(0)} | ${r.cpuMsPer1k.load.toFixed(0)} | ${r.cpuMsPer1k.mock.toFixed(0)} |`);
    if (paced.length > 0) {
      md.push(
        '',
        'Below saturation (open loop: requests sent at a fixed offered rate, evenly spaced; a separate measurement, not the saturated overhead above):',
        '',
        '| offered req/s | mock p50 ms | routecore 1 worker req/s (p50 ms) | added p50 ms | overhead p50 µs at this rate | overhead p99 µs at this rate | gateway CPU µs/request |',
        '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const rate of rates) {
        const m = paced.find((r) => r.offered === rate && r.target === 'mock direct')!;
        const g = paced.find((r) => r.offered === rate && r.target === 'routecore 1 worker')!;
        md.push(`| ${rate} | ${m.p50.toFixed(3)} | ${g.rps.toFixed(0)} (${g.p50.toFixed(3)}) | ${(g.p50 - m.p50).toFixed(3)} | ${g.overheadP50Us?.toFixed(0) ?? '-'} | ${g.overheadP99Us?.toFixed(0) ?? '-'} | ${g.cpuUsPerRequest.toFixed(0)} |`);
      }
    }
    md.push('', `Load average (1 min) ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end; ${n} CPUs.`);
    console.log('\n' + md.join('\n'));
    if (args.json) writeFileSync(args.json, JSON.stringify({ schema: 2, startedAt: new Date().toISOString(), cpus: n, load: [loadStart, loadEnd], pinned: pin, workers, seconds, runs }, null, 2));
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One open-loop run at a fixed offered rate. */
interface PacedRun extends LoadResult {
  target: string;
  /** Requests per second offered. */
  offered: number;
  overheadP50Us?: number;
  overheadP99Us?: number;
  /** The target's CPU µs per answered request (NaN for the mock). */
  cpuUsPerRequest: number;
}

/** Runs the paced load generator in its own (pinned) process. */
async function pacedWithCpu(self: string, cpuList: string | undefined, spec: PacedSpec): Promise<LoadResult> {
  const [exe, argv] = pinned(cpuList, [self, '--child', 'paced', '--spec', JSON.stringify(spec)]);
  const child = spawn(exe, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`the paced load generator exited with ${code}: ${out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
}

/** Runs the load generator in its own (pinned) process; its result includes its own CPU time. */
async function loadWithCpu(self: string, cpuList: string | undefined, spec: LoadSpec): Promise<{ result: LoadResult; loadCpu: number }> {
  const [exe, argv] = pinned(cpuList, [self, '--child', 'load', '--spec', JSON.stringify(spec)]);
  const child = spawn(exe, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`the load generator exited with ${code}: ${out}`);
  const result = JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
  return { result, loadCpu: result.cpu };
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
