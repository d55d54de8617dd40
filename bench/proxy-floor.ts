/**
 * The floor under the gateway's CPU per request: what the least a Node proxy built on the same
 * libraries costs on this machine, measured in the same run as `routecore serve`, so that issue 21's
 * target (≥ 10× Portkey's req/s with one worker, about ≤ 70 µs of CPU per routed request) can be
 * judged against what any such gateway pays.
 *
 * Targets, each its own process, all in front of one mock upstream (test/helpers/mock-upstream.ts in
 * its own process), driven by autocannon (in this process) with the same chat-completions body:
 * - `node:http`: a node:http server; the body read, `JSON.parse`d, its `model` set, `JSON.stringify`d
 *   and POSTed to the mock through an undici `Pool` (`request()`); the answer's text passed back with
 *   its status. No routing, no logging, no validation.
 * - `fastify`: the same on fastify (its own JSON body parser, logger off), the answer sent as a string.
 * - `fastify+log`: the same with fastify's pino logger on at `warn` and a `randomUUID` request id, as
 *   routecore configures them (nothing is written at `warn` for a 200; the per-request child logger is made).
 * - `fastify+log+answer`: and the answer parsed, its `model` replaced, its usage read, serialised by
 *   fastify (what any gateway that reports the answering model and the cost does).
 * - `routecore`: `routecore serve` (one worker, `ROUTECORE_THREADS=1`, the embedded router, the
 *   default SQLite outcome log), every request routed (`model: "routecore"`).
 * - `routecore log:none`: the same with `log: {kind: none}` (no outcome row).
 *
 * Per run: the target process's CPU time (user + system of all its threads, from /proc; also its
 * main thread's alone, the rest being V8's GC helpers, the log writer and the addon's thread) per answered
 * request, which a machine loaded by other work disturbs far less than req/s; the targets run in
 * rotating order per connection level, `--rounds` times; the table gives medians over rounds.
 *
 * `node dist/bench/proxy-floor.js [--connections 1,32] [--duration 3] [--rounds 2] [--only node:http,fastify,...]`
 * @module
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

import { packageRoot } from '../src/addon/native.js';
import { rotatingRuns, startServer, writeBenchRegistry, type Server } from './servers.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,32' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    child: { type: 'string' },
    upstream: { type: 'string' },
  },
  strict: true,
});

const PROMPT = 'A train leaves the station at 3pm travelling at 60 miles per hour. A second train leaves the same station at 4pm at 80 miles per hour on the same track. At what time does the second train catch up with the first, and how far from the station?';

/** The upstream call both bare proxies make: the parsed body, `model` set, as JSON through an undici Pool; the answer as text. */
async function forwarder(upstream: string): Promise<(body: Record<string, unknown>) => Promise<{ status: number; text: string }>> {
  const { Pool } = await import('undici');
  const u = new URL(upstream);
  const pool = new Pool(u.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000000000' };
  return async (body) => {
    body['model'] = 'big';
    const res = await pool.request({ path: u.pathname, method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.statusCode, text: await res.body.text() };
  };
}

/** Child mode: the node:http proxy. */
async function httpChild(upstream: string): Promise<void> {
  const forward = await forwarder(upstream);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad JSON"}}');
        return;
      }
      forward(body).then(
        (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.text),
        (err: Error) => res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: err.message } })),
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on port ${(server.address() as { port: number }).port}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

/**
 * Child mode: the fastify proxy (`log`: pino at warn and a randomUUID request id, as routecore
 * configures them; `answer`: the upstream's answer parsed, its `model` replaced and its `usage` read,
 * then serialised by fastify, as any gateway that reports the model and the cost must).
 */
async function fastifyChild(upstream: string, log: boolean, answer: boolean): Promise<void> {
  const forward = await forwarder(upstream);
  const { fastify } = await import('fastify');
  const app = fastify({ logger: log ? { level: 'warn' } : false, keepAliveTimeout: 65_000, ...(log ? { genReqId: () => `rc-${randomUUID()}` } : {}) });
  let tokens = 0;
  app.post('/v1/chat/completions', async (request, reply) => {
    const r = await forward(request.body as Record<string, unknown>);
    reply.code(r.status);
    if (!answer) {
      reply.header('content-type', 'application/json');
      return r.text;
    }
    const json = JSON.parse(r.text) as { model?: string; usage?: { completion_tokens?: number } };
    json.model = 'big';
    tokens += json.usage?.completion_tokens ?? 0;
    return json;
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`listening on port ${new URL(address).port}\n`);
  process.on('SIGTERM', () =>
    void app.close().then(() => {
      if (answer) process.stderr.write(`completion tokens read: ${tokens}\n`);
      process.exit(0);
    }),
  );
}

/** utime + stime in µs of a process (all its threads) and of its main thread, from /proc (Linux; clock ticks of 10 ms). */
function cpuUs(pid: number): { user: number; system: number; main: number } {
  const fields = (path: string) => readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  const f = fields(`/proc/${pid}/stat`);
  const m = fields(`/proc/${pid}/task/${pid}/stat`);
  return { user: Number(f[11]) * 10_000, system: Number(f[12]) * 10_000, main: (Number(m[11]) + Number(m[12])) * 10_000 };
}

interface Run {
  target: string;
  connections: number;
  rps: number;
  /** CPU µs per answered request: total, user, system, the event loop's thread (the rest: V8's helper threads, libuv's pool, the log writer, the addon's). */
  cpu: number;
  user: number;
  system: number;
  main: number;
  bad: number;
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  if (args.child === 'node:http') return httpChild(args.upstream!);
  if (args.child === 'fastify') return fastifyChild(args.upstream!, false, false);
  if (args.child === 'fastify+log') return fastifyChild(args.upstream!, true, false);
  if (args.child === 'fastify+log+answer') return fastifyChild(args.upstream!, true, true);
  const levels = args.connections.split(',').map((s) => Number(s.trim()));
  const seconds = Number(args.duration);
  const rounds = Number(args.rounds);
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-floor-'));
  const servers: Server[] = [];
  try {
    const mock = await startServer('mock', [join(self, '..', 'gateway.js'), '--child', 'mock'], {}, /port (\d+)/);
    servers.push(mock);
    const mockBase = `http://127.0.0.1:${mock.port}/v1`;
    const registry = writeBenchRegistry(dir, mockBase);
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const ready = /listening on (?:port |http:\/\/127\.0\.0\.1:)(\d+)/;
    const routecore = (name: string, log: string) => {
      const config = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(config, `log: ${log}\n`);
      return startServer(name, [cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config], { BENCH_KEY: 'sk-bench-0000000000', ROUTECORE_BACKEND: 'cpu', ROUTECORE_THREADS: '1' }, ready, { timeoutMs: 90_000 });
    };
    const all: Record<string, () => Promise<Server>> = {
      'node:http': () => startServer('node:http', [self, '--child', 'node:http', '--upstream', `${mockBase}/chat/completions`], {}, ready),
      fastify: () => startServer('fastify', [self, '--child', 'fastify', '--upstream', `${mockBase}/chat/completions`], {}, ready),
      'fastify+log': () => startServer('fastify+log', [self, '--child', 'fastify+log', '--upstream', `${mockBase}/chat/completions`], {}, ready),
      'fastify+log+answer': () => startServer('fastify+log+answer', [self, '--child', 'fastify+log+answer', '--upstream', `${mockBase}/chat/completions`], {}, ready),
      routecore: () => routecore('routecore', `{kind: sqlite, path: ${join(dir, 'log.sqlite')}}`),
      'routecore log:none': () => routecore('routecore log:none', '{kind: none}'),
    };
    const names = args.only ? args.only.split(',').map((s) => s.trim()) : Object.keys(all);
    for (const n of names) if (!all[n]) throw new Error(`--only: unknown target "${n}" (known: ${Object.keys(all).join(', ')})`);
    const targets: Server[] = [];
    for (const n of names) {
      const s = await all[n]!();
      servers.push(s);
      targets.push(s);
    }
    const body = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPT }] });
    const load = (s: Server, connections: number, duration: number) =>
      autocannon({ url: `http://127.0.0.1:${s.port}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration, pipelining: 1 });
    console.log(`proxy floor: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at start; ${seconds} s per run; connections ${levels.join(', ')}; ${rounds} rounds; targets ${names.join(', ')}`);
    for (const t of targets) await load(t, 8, 2); // warm-up: JIT, pools, connections
    const runs: Run[] = [];
    for (const { round: r, connections: c, target: t } of rotatingRuns(rounds, levels, targets)) {
      const pid = t.child.pid!;
      const c0 = cpuUs(pid);
      const res = await load(t, c, seconds);
      const c1 = cpuUs(pid);
      const n = Math.max(1, res['2xx']);
      const run: Run = { target: t.name, connections: c, rps: res['2xx'] / seconds, user: (c1.user - c0.user) / n, system: (c1.system - c0.system) / n, main: (c1.main - c0.main) / n, cpu: 0, bad: res.non2xx + res.errors + res.timeouts };
      run.cpu = run.user + run.system;
      runs.push(run);
      console.log(`  round ${r + 1} ${String(c).padStart(3)} conn  ${t.name.padEnd(20)} ${run.rps.toFixed(0).padStart(6)} req/s  CPU ${run.cpu.toFixed(1)} µs/req (user ${run.user.toFixed(1)}, system ${run.system.toFixed(1)}; main thread ${run.main.toFixed(1)}; bad ${run.bad})  load ${loadavg()[0]!.toFixed(2)}`);
    }
    console.log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end\n`);
    console.log('| target | connections | req/s | CPU µs/request (user + system; each round) | user | system | main thread | other threads |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of levels) {
      for (const t of targets) {
        const rs = runs.filter((x) => x.target === t.name && x.connections === c);
        console.log(`| ${t.name} | ${c} | ${median(rs.map((x) => x.rps)).toFixed(0)} | ${median(rs.map((x) => x.cpu)).toFixed(1)} (${rs.map((x) => x.cpu.toFixed(0)).join(', ')}) | ${median(rs.map((x) => x.user)).toFixed(1)} | ${median(rs.map((x) => x.system)).toFixed(1)} | ${median(rs.map((x) => x.main)).toFixed(1)} | ${median(rs.map((x) => x.cpu - x.main)).toFixed(1)} |`);
      }
    }
  } finally {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGTERM');
    // A server that does not stop within 10 s of SIGTERM is killed (each by its own pid).
    const stuck = setTimeout(() => {
      for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }, 10_000);
    await Promise.all(servers.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    clearTimeout(stuck);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
