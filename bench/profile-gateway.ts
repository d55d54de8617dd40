/**
 * Where a warm gateway's CPU goes: `routecore serve` (one worker, the embedded router, SQLite log) in
 * front of the mock upstream, autocannon load on one route, and
 * - the gateway process's CPU time per answered request (utime + stime from /proc), the figure the
 *   ratio to Portkey depends on and the one a machine loaded by other work disturbs least;
 * - with `--cpu-prof DIR`, a V8 CPU profile of the gateway (`node --cpu-prof`, written when it exits)
 *   summarised by self time per package / area and per function.
 *
 * - with `--heap-prof FILE`, V8's sampling heap profiler over the load window, collected objects
 *   included (bench/heap-sampler.ts), summarised as bytes allocated per request, by allocating
 *   function and by the first routecore (or package) frame on the allocation's stack; the profile is
 *   written to FILE; with `--survivors`, only what outlived the young generation (promoted objects).
 *   Sampling costs CPU: take CPU figures from a run without it.
 *
 * `node dist/bench/profile-gateway.js [--route chat|route] [--connections 1] [--seconds 10] [--cpu-prof DIR] [--heap-prof FILE] [--top 30] [--root OTHER_TREE] [--threads 1|N|all] [--pin] [--node-args '...']`
 *
 * The profile covers start-up and warm-up too; the summary keeps only samples taken during the
 * measured load window (the profile's timestamps), so it is the warm gateway's.
 * @module
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

import { packageRoot } from '../src/addon/native.js';
import { rerunPinned, startServer, writeBenchRegistry, type Server } from './servers.js';

const { values: args } = parseArgs({
  options: {
    route: { type: 'string', default: 'chat' },
    connections: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    'cpu-prof': { type: 'string' },
    /** Where to write the sampling heap profile of the load window (see the module comment). */
    'heap-prof': { type: 'string' },
    /** With --heap-prof: only what survived the young generation (see bench/heap-sampler.ts). */
    survivors: { type: 'boolean', default: false },
    top: { type: 'string', default: '30' },
    'log-level': { type: 'string' },
    /** Another built checkout whose gateway to run (an older commit in a git worktree), with this one's mock and load. */
    root: { type: 'string' },
    /** The gateway's ROUTECORE_THREADS (`all`: unset, every hardware thread); 1 by default, as bench/gateway.ts. */
    threads: { type: 'string', default: '1' },
    /** Extra node flags for the gateway process, space-separated (e.g. `--max-semi-space-size=64`). */
    'node-args': { type: 'string', default: '' },
    /** Also warm up with this route's traffic first (chat|route), as a gateway serving both has been. */
    'warm-also': { type: 'string' },
    /** Extra fields of the `log:` section (YAML flow, e.g. `flushMs: 5`), or the whole section when it names a kind (`kind: none`); default the SQLite log as served. */
    log: { type: 'string', default: '' },
    /**
     * Pin the gateway to CPU 0, and the mock and this process (autocannon) to CPU 1, as bench/gateway.ts
     * pins: then the gateway's own threads (GC helpers, the log writer, the addon's) share its one core.
     */
    pin: { type: 'boolean', default: false },
  },
  strict: true,
});

const PROMPT = 'A train leaves the station at 3pm travelling at 60 miles per hour. A second train leaves the same station at 4pm at 80 miles per hour on the same track. At what time does the second train catch up with the first, and how far from the station?';

/** CPU µs (utime + stime) of each thread of a process, by thread id and name (Linux /proc). */
function threadsCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${tid} ${name}`, (Number(f[11]) + Number(f[12])) * 10_000);
    } catch {
      // gone
    }
  }
  return out;
}

/** utime and stime of one process, µs (Linux /proc; clock ticks of 10 ms). */
function cpuUs(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * 10_000, system: Number(f[12]) * 10_000 };
}

async function load(url: string, body: string, connections: number, seconds: number): Promise<{ requests: number; bad: number }> {
  const r = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds, pipelining: 1 });
  return { requests: r['2xx'], bad: r.non2xx + r.errors + r.timeouts };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The area a function belongs to, from its script URL. */
function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(idle)' || fn === '(root)') return fn;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]!.replace(/^internal$/, 'internal/' + (url.split('/')[1] ?? ''))}`;
  const src = /dist\/src\/([^/]+)\/([^/.]+)/.exec(url);
  if (src) return `routecore ${src[1]}/${src[2]}`;
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  return url;
}

/** Self time per area and per function, samples inside [t0, t1] (µs of the profile's clock); µs per request when `requests` is given. */
function summarise(path: string, fromUs: number, toUs: number, top: number, requests = 0): string {
  const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  let windowUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    windowUs += p.timeDeltas[i]!;
    const n = byId.get(p.samples[i]!)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    total++;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + 1);
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^.*dist\//, '')}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + 1);
  }
  // Wall µs per sample in the window (idle ones included), so a count of samples is µs per request too.
  const perSample = windowUs / Math.max(1, countIn(p, fromUs, toUs));
  const pct = (n: number) => ((100 * n) / Math.max(1, total)).toFixed(1).padStart(5) + '%' + (requests > 0 ? ` ${((n * perSample) / requests).toFixed(2).padStart(6)} µs/req` : '');
  const lines = [`busy samples in the load window: ${total}`, '', 'self time by area:'];
  for (const [k, v] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  lines.push('', 'self time by function:');
  for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  return lines.join('\n');
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/**
 * Bytes allocated per request in a sampling heap profile (sizes are the sampler's estimates), by the
 * allocating function (self) and by the innermost frame of routecore's own code on the stack (else the
 * innermost package's), which is where a cut would be made.
 */
function summariseHeap(path: string, requests: number, top: number): string {
  const head = (JSON.parse(readFileSync(path, 'utf8')) as { head: HeapNode }).head;
  const self = new Map<string, number>();
  const owner = new Map<string, number>();
  let total = 0;
  const name = (f: HeapNode['callFrame']) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^.*dist\//, '')}:${f.lineNumber + 1}`;
  const walk = (n: HeapNode, stack: HeapNode['callFrame'][]) => {
    const here = [...stack, n.callFrame];
    if (n.selfSize > 0) {
      total += n.selfSize;
      const k = name(n.callFrame);
      self.set(k, (self.get(k) ?? 0) + n.selfSize);
      const own = here.findLast((f) => f.url.includes('/dist/src/')) ?? here.findLast((f) => f.url.includes('node_modules/')) ?? n.callFrame;
      const o = own === n.callFrame ? k : `${name(own)} (${area(own.url, own.functionName)})`;
      owner.set(o, (owner.get(o) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, []);
  const per = (b: number) => `${(b / Math.max(1, requests)).toFixed(0).padStart(6)} B/req`;
  const lines = [`${process.env['ROUTECORE_HEAP_SURVIVORS'] === '1' || args.survivors ? 'survived the young generation' : 'allocated'} in the load window: ${(total / 1e6).toFixed(1)} MB, ${per(total)} (${requests} requests)`, '', 'by allocating function:'];
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${per(v)}  ${k}`);
  lines.push('', 'by the innermost routecore frame (else package frame) on the stack:');
  for (const [k, v] of [...owner].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${per(v)}  ${k}`);
  return lines.join('\n');
}

/** Samples (idle included) whose time falls inside [fromUs, toUs]. */
function countIn(p: { startTime: number; timeDeltas: number[] }, fromUs: number, toUs: number): number {
  let t = p.startTime;
  let n = 0;
  for (const d of p.timeDeltas) {
    t += d;
    if (t >= fromUs && t <= toUs) n++;
  }
  return n;
}

async function main(): Promise<void> {
  // This process runs autocannon: on the mock's CPU, away from the gateway's.
  if (args.pin && rerunPinned('1')) return;
  const connections = Number(args.connections);
  const seconds = Number(args.seconds);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-prof-gw-'));
  const profDir = args['cpu-prof'];
  const servers: Server[] = [];
  const self = join(fileURLToPath(import.meta.url), '..', 'gateway.js');
  let gateway: Server | undefined;
  try {
    const mock = await startServer('mock', [self, '--child', 'mock'], {}, /port (\d+)/, args.pin ? { cpuList: '1' } : {});
    servers.push(mock);
    const mockBase = `http://127.0.0.1:${mock.port}/v1`;
    const registry = writeBenchRegistry(dir, mockBase);
    const config = join(dir, 'serve.yaml');
    writeFileSync(config, args.log.includes('kind:') ? `log: {${args.log}}\n` : `log: {kind: sqlite, path: ${join(dir, 'log.sqlite')}${args.log ? `, ${args.log}` : ''}}\n`);
    const cli = join(args.root ? resolve(args.root) : packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const heapOut = args['heap-prof'] ? resolve(args['heap-prof']) : undefined;
    const sampler = join(fileURLToPath(import.meta.url), '..', 'heap-sampler.js');
    const node = [
      ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      ...(heapOut ? ['--import', pathToFileURL(sampler).href] : []),
      ...args['node-args'].split(' ').filter((a) => a !== ''),
    ];
    const extra = args['log-level'] ? ['--log-level', args['log-level']] : [];
    gateway = await startServer(
      'gateway',
      [...node, cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config, ...extra],
      { BENCH_KEY: 'sk-bench-0000000000', ROUTECORE_BACKEND: 'cpu', ...(args.threads === 'all' ? {} : { ROUTECORE_THREADS: args.threads }), ...(heapOut ? { ROUTECORE_HEAP_PROFILE: heapOut, ROUTECORE_HEAP_SURVIVORS: args.survivors ? '1' : '0' } : {}) },
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      args.pin ? { cpuList: '0' } : {},
    );
    servers.push(gateway);
    const pid = gateway.child.pid!;
    const path = args.route === 'route' ? '/v1/route' : '/v1/chat/completions';
    const url = `http://127.0.0.1:${gateway.port}${path}`;
    const body = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPT }] });
    if (args['warm-also']) await load(`http://127.0.0.1:${gateway.port}${args['warm-also'] === 'route' ? '/v1/route' : '/v1/chat/completions'}`, body, 8, 3);
    await load(url, body, 8, 3); // warm-up: JIT, pools
    let heapWritten: Promise<unknown> | undefined;
    if (heapOut) {
      heapWritten = new Promise((res) => gateway!.child.stderr!.on('data', (d: Buffer) => d.toString().includes('heap profile written') && res(null)));
      process.kill(pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 200)); // the sampler starts on the gateway's next turn
    }
    const load0 = loadavg()[0]!;
    const c0 = cpuUs(pid);
    const t0 = threadsCpu(pid);
    const w0 = Date.now();
    const r = await load(url, body, connections, seconds);
    const w1 = Date.now();
    const c1 = cpuUs(pid);
    const t1 = threadsCpu(pid);
    const per = (us: number) => (us / Math.max(1, r.requests)).toFixed(1);
    console.log(
      `${path} ${connections} conn ${seconds} s: ${(r.requests / seconds).toFixed(0)} req/s, gateway CPU ${per(c1.user + c1.system - c0.user - c0.system)} µs/request ` +
        `(user ${per(c1.user - c0.user)}, system ${per(c1.system - c0.system)}; bad ${r.bad}); load average ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`,
    );
    const byThread = [...t1].map(([k, v]) => [k, v - (t0.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    console.log(`  per thread, µs/request: ${byThread.map(([k, v]) => `${k} ${(v / Math.max(1, r.requests)).toFixed(1)}`).join('; ')}`);
    if (heapOut) {
      process.kill(pid, 'SIGUSR2');
      await heapWritten;
      console.log(`heap profile ${heapOut} (sampling on: the CPU figures above include its cost)`);
      console.log(summariseHeap(heapOut, r.requests, Number(args.top)));
    }
    gateway.child.kill('SIGTERM');
    await new Promise((res) => (gateway!.child.exitCode !== null ? res(null) : gateway!.child.once('exit', res)));
    const endWall = Date.now();
    if (profDir) {
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f));
      const latest = files.sort().at(-1);
      if (!latest || !existsSync(latest)) throw new Error(`no profile in ${profDir}`);
      // The profile's clock is the process's monotonic clock in µs; find the window by the wall-clock offset of the end.
      const prof = JSON.parse(readFileSync(latest, 'utf8')) as { endTime: number };
      const to = prof.endTime - (endWall - w1) * 1000;
      const from = to - (w1 - w0) * 1000;
      console.log(`profile ${latest}`);
      console.log(summarise(latest, from, to, Number(args.top), r.requests));
    }
  } finally {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((res) => (s.child.exitCode !== null ? res(null) : s.child.once('exit', res)))));
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
