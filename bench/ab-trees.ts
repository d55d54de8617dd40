/**
 * Before/after in one run: two built checkouts of routecore (e.g. an older commit in a git worktree
 * and this one), raced on the same machine at the same time, interleaved so neither always runs
 * first on a warm or loaded machine.
 *
 * - Gateway: each tree's `routecore serve` (its own process) in front of one shared mock upstream;
 *   autocannon drives `POST /v1/chat/completions` (routed) and `POST /v1/route` (routing only) at each
 *   connection count, trees in rotating order, `--rounds` times. Latency per response from
 *   autocannon's `response` event (fractional ms), and the gateway process's CPU time per answered
 *   request (Linux /proc/PID/stat utime + stime), which a machine loaded by other work disturbs far
 *   less than latency or throughput.
 * - Gateway CPU in-process: both trees' `Gateway` in one child process, answering through fastify's
 *   `inject` (no client sockets) in alternating batches, CPU time (process.cpuUsage) per request for
 *   `/v1/route` and `/v1/chat/completions` (to an in-process mock upstream, counted for both alike).
 * - Routing under concurrency in-process: both trees' routers, `routeChat` 32 at a time, CPU per prompt.
 * - `routeSync` p50: each tree's `Router.loadSync('default')` in a fresh process, 20,000 single-prompt
 *   calls after a warm-up, timed one by one; processes alternate between the trees `--rounds` times.
 *
 * `node dist/bench/ab-trees.js --old /tmp/rc-old [--new .] [--connections 1,8,32] [--duration 3] [--rounds 2] [--only routesync,inject,batched,http] [--routes chat,route] [--pin] [--old-node-args=...] [--new-node-args=...]`
 * The HTTP table gives the median and the minimum over rounds: on a shared machine, interference only
 * adds CPU time, so the minimum is the steadier figure.
 * Both trees must be built (`npm run build:ts`) with a loadable addon in build/Release.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { rerunPinned, rotatingRuns, startServer, writeBenchRegistry, type Server } from './servers.js';

const { values: args } = parseArgs({
  options: {
    old: { type: 'string' },
    new: { type: 'string', default: '.' },
    connections: { type: 'string', default: '1,8,32' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    child: { type: 'string' },
    root: { type: 'string' },
    /** Phases to run (comma-separated: routesync, inject, batched, http); default all four. */
    only: { type: 'string', default: 'routesync,inject,batched,http' },
    /** HTTP phase: routes to drive (comma-separated: chat, route); default both. */
    routes: { type: 'string', default: 'chat,route' },
    /**
     * HTTP phase: both gateways on CPU 0, the mock and this process (autocannon) on CPU 1, as
     * bench/gateway.ts pins; on a machine whose speed swings with its neighbours' load, same-core
     * gateways see the same swings.
     */
    pin: { type: 'boolean', default: false },
    /** Extra node flags for the old / new tree's gateway, space-separated (the same tree twice compares flags). */
    'old-node-args': { type: 'string', default: '' },
    'new-node-args': { type: 'string', default: '' },
  },
  strict: true,
});

const PROMPTS = [
  'A train leaves the station at 3pm travelling at 60 miles per hour. A second train leaves the same station at 4pm at 80 miles per hour on the same track. At what time does the second train catch up with the first, and how far from the station?',
  'What is the capital of France?',
  'Prove that there are infinitely many primes.',
  'Translate "good morning, how are you" into German and Spanish.',
  'Write a Python function that merges two sorted lists in linear time and explain its complexity.',
  'Summarise the causes of the First World War in three sentences.',
  'hi',
  'Integrate x^2 sin(x) from 0 to pi, showing each step.',
];

/** Child mode: time routeSync in the tree at `root`; prints one JSON line. */
async function routeSyncChild(root: string): Promise<void> {
  const { Router } = (await import(resolve(root, 'dist', 'src', 'index.js'))) as { Router: { loadSync(s: string): { routeSync(p: string): unknown; dispose(): void } } };
  const router = Router.loadSync('default');
  for (let i = 0; i < 2000; i++) router.routeSync(PROMPTS[i % PROMPTS.length]!);
  const n = 20_000;
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = PROMPTS[i % PROMPTS.length]!;
    const t0 = performance.now();
    router.routeSync(p);
    t[i] = performance.now() - t0;
  }
  t.sort();
  router.dispose();
  process.stdout.write(JSON.stringify({ p50us: t[n >> 1]! * 1000, p99us: t[Math.floor(n * 0.99)]! * 1000 }) + '\n');
}

/**
 * Child mode: both trees' `Router.loadSync('default')` in this process, `routeChat` with 32 callers at
 * a time (batches above the synchronous limit go to the addon's thread), CPU µs per prompt in
 * alternating rounds; prints one JSON line. The gateway's `/v1/route` under load routes this way,
 * where the one-at-a-time `inject` phase scores batches of one.
 */
async function batchedChild(oldRoot: string, newRoot: string): Promise<void> {
  type R = { routeChat(r: unknown): Promise<unknown>; dispose(): void };
  const routers: Record<string, R> = {};
  for (const [name, root] of [['old', oldRoot], ['new', newRoot]] as const) {
    const { Router } = (await import(resolve(root, 'dist', 'src', 'index.js'))) as { Router: { loadSync(s: string): R } };
    routers[name] = Router.loadSync('default');
  }
  const round = async (r: R, n: number) => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i += 32) {
      const ps: Promise<unknown>[] = [];
      for (let j = 0; j < 32; j++) ps.push(r.routeChat({ messages: [{ role: 'user', content: PROMPTS[(i + j) % PROMPTS.length] }] }));
      await Promise.all(ps);
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  for (const name of ['old', 'new']) await round(routers[name]!, 10_000);
  const cpu: Record<string, number[]> = { old: [], new: [] };
  for (let r = 0; r < 10; r++) for (const name of r % 2 ? ['new', 'old'] : ['old', 'new']) cpu[name]!.push(await round(routers[name]!, 10_000));
  for (const r of Object.values(routers)) r.dispose();
  process.stdout.write(JSON.stringify({ url: 'routeChat x32 concurrent', cpu }) + '\n');
}

/** Child mode: both trees' gateways in this process, CPU µs per request through inject; prints JSON lines. */
async function injectChild(oldRoot: string, newRoot: string): Promise<void> {
  const { startMockUpstream } = await import('../test/helpers/mock-upstream.js');
  const mock = await startMockUpstream({ name: 'mock' });
  const clear = setInterval(() => (mock.requests.length = 0), 200);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-ab-inject-'));
  const registry = join(dir, 'models.json');
  writeFileSync(registry, JSON.stringify({ models: [{ id: 'big', baseUrl: mock.baseUrl }, { id: 'small', baseUrl: mock.baseUrl }] }));
  type Inject = (o: { method: string; url: string; headers: Record<string, string>; payload: string }) => Promise<{ statusCode: number; body: string }>;
  const gateways: Record<string, { app: { inject: Inject }; close(): Promise<void> }> = {};
  for (const [name, root] of [['old', oldRoot], ['new', newRoot]] as const) {
    const { resolveServeConfig } = (await import(resolve(root, 'dist', 'src', 'serve', 'config.js'))) as { resolveServeConfig(f: object, e: object): { log: object } };
    const { Gateway } = (await import(resolve(root, 'dist', 'src', 'serve', 'gateway.js'))) as { Gateway: { start(c: object, o: object): Promise<(typeof gateways)[string]> } };
    const config = resolveServeConfig({ registry, aliases: { strong: 'big', weak: 'small' }, port: '0' }, {});
    config.log = { ...config.log, kind: 'sqlite', path: join(dir, `${name}.sqlite`) };
    gateways[name] = await Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
  }
  const payload = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPTS[0] }] });
  const batch = async (name: string, url: string, n: number) => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const r = await gateways[name]!.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
      if (r.statusCode !== 200) throw new Error(`${name} ${url}: ${r.statusCode} ${r.body}`);
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  for (const url of ['/v1/route', '/v1/chat/completions']) {
    const n = url === '/v1/route' ? 3000 : 1500;
    for (const name of ['old', 'new']) await batch(name, url, 1000);
    const cpu: Record<string, number[]> = { old: [], new: [] };
    for (let r = 0; r < 12; r++) for (const name of r % 2 ? ['new', 'old'] : ['old', 'new']) cpu[name]!.push(await batch(name, url, n));
    process.stdout.write(JSON.stringify({ url, cpu }) + '\n');
  }
  for (const g of Object.values(gateways)) await g.close();
  clearInterval(clear);
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
}

interface Run {
  target: string;
  connections: number;
  requests: number;
  bad: number;
  rps: number;
  p50: number;
  p99: number;
  /** Gateway CPU µs per answered request; NaN where /proc is not readable. */
  cpuUs: number;
}

/** utime + stime of a process in µs (Linux), NaN elsewhere. */
function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 10 ms on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

async function load(target: string, url: string, body: string, connections: number, seconds: number, pid = 0): Promise<Run> {
  const cpu0 = cpuOf(pid);
  const latencies: number[] = [];
  const instance = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds, pipelining: 1 });
  (instance as unknown as { on(e: string, f: (c: unknown, s: number, b: number, ms: number) => void): void }).on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
  const cpuUs = (cpuOf(pid) - cpu0) / Math.max(1, latencies.length);
  return { target, connections, requests: latencies.length, bad: result.non2xx + result.errors + result.timeouts, rps: latencies.length / seconds, p50: q(0.5), p99: q(0.99), cpuUs };
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  if (args.child === 'routesync') return routeSyncChild(args.root!);
  if (args.child === 'inject') return injectChild(args.old!, args.new);
  if (args.child === 'batched') return batchedChild(args.old!, args.new);
  if (!args.old) throw new Error('--old DIR (a built checkout to compare against) is required');
  // This process runs autocannon: on the mock's CPU, away from the gateway's.
  if (args.pin && rerunPinned('1')) return;
  const trees = [
    { name: 'old', root: resolve(args.old) },
    { name: 'new', root: resolve(args.new) },
  ];
  const levels = args.connections.split(',').map((s) => Number(s.trim()));
  const seconds = Number(args.duration);
  const rounds = Number(args.rounds);
  const self = fileURLToPath(import.meta.url);
  console.log(`A/B old=${trees[0]!.root} new=${trees[1]!.root}: ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}; ${seconds} s per run, connections ${levels.join(', ')}, ${rounds} rounds`);

  const phases = new Set(args.only.split(',').map((s) => s.trim()));
  // routeSync p50, fresh processes alternating.
  const sync: Record<string, { p50us: number; p99us: number }[]> = { old: [], new: [] };
  for (let r = 0; r < (phases.has('routesync') ? rounds * 2 : 0); r++) {
    for (const t of r % 2 ? [...trees].reverse() : trees) {
      const out = spawnSync(process.execPath, [self, '--child', 'routesync', '--root', t.root], { encoding: 'utf8', env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
      if (out.status !== 0) throw new Error(`routeSync child (${t.name}) failed: ${out.stderr}`);
      sync[t.name]!.push(JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { p50us: number; p99us: number });
    }
  }
  for (const t of phases.has('routesync') ? trees : []) {
    const s = sync[t.name]!;
    console.log(`  routeSync ${t.name}: p50 ${median(s.map((x) => x.p50us)).toFixed(2)} µs (runs: ${s.map((x) => x.p50us.toFixed(2)).join(', ')}), p99 ${median(s.map((x) => x.p99us)).toFixed(2)} µs`);
  }

  // Gateway CPU per request in-process, both trees in one child.
  const inj = !phases.has('inject') ? { status: 0, stdout: '', stderr: '' } : spawnSync(process.execPath, [self, '--child', 'inject', '--old', trees[0]!.root, '--new', trees[1]!.root], { encoding: 'utf8', env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  if (inj.status !== 0) throw new Error(`inject child failed: ${inj.stderr}`);
  // Routing under concurrency in one process (the addon's thread for batches above 8).
  const bat = !phases.has('batched') ? { status: 0, stdout: '', stderr: '' } : spawnSync(process.execPath, [self, '--child', 'batched', '--old', trees[0]!.root, '--new', trees[1]!.root], { encoding: 'utf8', env: { ...process.env, ROUTECORE_BACKEND: 'cpu', ROUTECORE_THREADS: '1' } });
  if (bat.status !== 0) throw new Error(`batched child failed: ${bat.stderr}`);
  for (const line of [...inj.stdout.trim().split('\n'), ...bat.stdout.trim().split('\n')].filter((l) => l !== '')) {
    const { url, cpu } = JSON.parse(line) as { url: string; cpu: Record<string, number[]> };
    const higher = cpu['new']!.filter((v, i) => v > cpu['old']![i]!).length;
    console.log(`  in-process ${url}: old ${median(cpu['old']!).toFixed(2)} µs CPU/request, new ${median(cpu['new']!).toFixed(2)} (medians of ${cpu['old']!.length} alternating batches; new higher in ${higher} of them)`);
  }

  if (!phases.has('http')) return;
  const dir = mkdtempSync(join(tmpdir(), 'routecore-ab-'));
  const servers: Server[] = [];
  try {
    const mock = await startServer('mock', [join(trees[1]!.root, 'dist', 'bench', 'gateway.js'), '--child', 'mock'], {}, /port (\d+)/, args.pin ? { cpuList: '1' } : {});
    servers.push(mock);
    const mockBase = `http://127.0.0.1:${mock.port}/v1`;
    const registry = writeBenchRegistry(dir, mockBase);
    const gateways: Record<string, Server> = {};
    for (const t of trees) {
      const config = join(dir, `${t.name}.yaml`);
      writeFileSync(config, `log: {kind: sqlite, path: ${join(dir, `${t.name}.sqlite`)}}\n`);
      const cli = join(t.root, 'dist', 'src', 'cli', 'main.js');
      const nodeArgs = args[t.name === 'old' ? 'old-node-args' : 'new-node-args'].split(' ').filter((a) => a !== '');
      gateways[t.name] = await startServer(
        `${t.name} gateway`,
        [...nodeArgs, cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config],
        { BENCH_KEY: 'sk-bench-0000000000', ROUTECORE_BACKEND: 'cpu' },
        /listening on http:\/\/127\.0\.0\.1:(\d+)/,
        args.pin ? { cpuList: '0' } : {},
      );
      servers.push(gateways[t.name]!);
    }
    const body = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPTS[0] }] });
    const kinds = args.routes.split(',').map((s) => s.trim());
    const targets = trees.flatMap((t) => [
      { name: `${t.name} chat`, url: `http://127.0.0.1:${gateways[t.name]!.port}/v1/chat/completions`, pid: gateways[t.name]!.child.pid! },
      { name: `${t.name} route`, url: `http://127.0.0.1:${gateways[t.name]!.port}/v1/route`, pid: gateways[t.name]!.child.pid! },
    ].filter((x) => kinds.includes(x.name.split(' ')[1]!)));
    for (const t of targets) await load(t.name, t.url, body, 8, 1); // warm-up
    const runs: Run[] = [];
    for (const { round: r, connections: c, target: t } of rotatingRuns(rounds, levels, targets)) {
      const run = await load(t.name, t.url, body, c, seconds, t.pid);
      runs.push(run);
      console.log(`  round ${r + 1} ${String(c).padStart(3)} conn  ${t.name.padEnd(10)} ${run.rps.toFixed(0).padStart(6)} req/s  p50 ${run.p50.toFixed(3)} ms  p99 ${run.p99.toFixed(3)} ms  gateway CPU ${run.cpuUs.toFixed(0)} µs/req  (bad ${run.bad})`);
    }
    console.log('\n| target | connections | req/s (median of rounds) | p50 ms | p99 ms | gateway CPU µs/request (median) | (min) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const kind of kinds) {
      for (const c of levels) {
        for (const t of trees) {
          const rs = runs.filter((x) => x.target === `${t.name} ${kind}` && x.connections === c);
          console.log(`| ${t.name} ${kind === 'chat' ? '/v1/chat/completions' : '/v1/route'} | ${c} | ${median(rs.map((x) => x.rps)).toFixed(0)} | ${median(rs.map((x) => x.p50)).toFixed(3)} | ${median(rs.map((x) => x.p99)).toFixed(3)} | ${median(rs.map((x) => x.cpuUs)).toFixed(0)} | ${Math.min(...rs.map((x) => x.cpuUs)).toFixed(0)} |`);
        }
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
