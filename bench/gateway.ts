/**
 * P10: `routecore serve` against the mock upstream directly and against Portkey's open-source
 * gateway on the same mock, interleaved in one run. Each server runs in its own process; autocannon
 * drives 127.0.0.1 only, at 1…256 connections, the three targets one after another at each level
 * (the order rotates per level so no target always runs first on a warm or cold machine).
 *
 * `node dist/bench/gateway.js [--connections 1,8,32,64,128,256] [--duration 3] [--json FILE]`
 * (`npm run bench:gateway`). Latency is recorded per response from autocannon's `response` event
 * (fractional milliseconds; autocannon's own histogram has 1 ms resolution, too coarse for overhead).
 * Overhead = gateway p50 − mock p50 at the same connection count, in the same run.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

import { packageRoot } from '../src/addon/native.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,8,32,64,128,256' },
    duration: { type: 'string', default: '3' },
    json: { type: 'string' },
    child: { type: 'string' },
    'no-portkey': { type: 'boolean', default: false },
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

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
}

async function start(name: string, cmd: string[], env: Record<string, string>, portFrom: RegExp, fixedPort?: number): Promise<Server> {
  const child = spawn(process.execPath, cmd, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = portFrom.exec(out);
    if (m) return { name, child, port: fixedPort ?? Number(m[1]) };
    if (child.exitCode !== null) throw new Error(`${name} exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`${name} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Run {
  target: string;
  connections: number;
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

async function load(target: string, url: string, headers: Record<string, string>, body: string, connections: number, seconds: number): Promise<Run> {
  const latencies: number[] = [];
  const instance = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, connections, duration: seconds, pipelining: 1 });
  (instance as unknown as { on(e: string, f: (c: unknown, s: number, b: number, ms: number) => void): void }).on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  return {
    target,
    connections,
    requests: latencies.length,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  };
}

async function main(): Promise<void> {
  if (args.child === 'mock') return mockChild();
  const levels = args.connections.split(',').map((s) => Number(s.trim()));
  const seconds = Number(args.duration);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-bench-gw-'));
  const servers: Server[] = [];
  const self = fileURLToPath(import.meta.url);
  try {
    const mock = await start('mock', [self, '--child', 'mock'], {}, /port (\d+)/);
    servers.push(mock);
    const mockBase = `http://127.0.0.1:${mock.port}/v1`;
    const registry = join(dir, 'models.json');
    writeFileSync(
      registry,
      JSON.stringify({
        models: [
          { id: 'big', baseUrl: mockBase, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 10, outputCostPer1M: 30 },
          { id: 'small', baseUrl: mockBase, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
        ],
      }),
    );
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, `log: {kind: sqlite, path: ${join(dir, 'log.sqlite')}}\n`);
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const gateway = await start(
      'routecore',
      [cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config],
      { BENCH_KEY: 'sk-bench-0000000000', ROUTECORE_BACKEND: 'cpu' },
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    servers.push(gateway);
    let portkey: Server | undefined;
    if (!args['no-portkey']) {
      const pkPort = 20000 + Math.floor(Math.random() * 20000);
      const pkMain = resolve(packageRoot(), 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
      portkey = await start('portkey', [pkMain, `--port=${pkPort}`, '--headless'], { NODE_ENV: 'production' }, /(running at|Ready for connections|listening)/i, pkPort);
      servers.push(portkey);
    }
    const body = JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: PROMPT }] });
    const targets: { name: string; url: string; headers: Record<string, string>; body: string }[] = [
      { name: 'mock direct', url: `${mockBase}/chat/completions`, headers: { authorization: 'Bearer sk-bench' }, body: JSON.stringify({ model: 'big', messages: [{ role: 'user', content: PROMPT }] }) },
      { name: 'routecore serve (routed)', url: `http://127.0.0.1:${gateway.port}/v1/chat/completions`, headers: {}, body },
      // The gateway's own ceiling: HTTP, hooks, JSON and the routing decision, no upstream call.
      { name: 'routecore /v1/route only', url: `http://127.0.0.1:${gateway.port}/v1/route`, headers: {}, body },
    ];
    if (portkey) {
      targets.push({
        name: 'portkey gateway',
        url: `http://127.0.0.1:${portkey.port}/v1/chat/completions`,
        headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': mockBase },
        body: JSON.stringify({ model: 'big', messages: [{ role: 'user', content: PROMPT }] }),
      });
    }
    console.log(`P10 gateway benchmark: ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}; ${seconds} s per run; connections ${levels.join(', ')}`);
    // Warm-up: JIT, connection pools, the router's first batches.
    for (const t of targets) await load(t.name, t.url, t.headers, t.body, 8, 1);
    const runs: Run[] = [];
    for (let li = 0; li < levels.length; li++) {
      const c = levels[li]!;
      const order = targets.map((_, i) => targets[(i + li) % targets.length]!);
      for (const t of order) {
        const r = await load(t.name, t.url, t.headers, t.body, c, seconds);
        runs.push(r);
        console.log(`  ${String(c).padStart(3)} conn  ${t.name.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  (non-2xx ${r.non2xx}, errors ${r.errors})`);
      }
    }
    const md: string[] = ['| connections | mock req/s | mock p50 / p99 ms | routecore req/s | routecore p50 / p99 ms | p50 overhead ms | portkey req/s | portkey p50 / p99 ms | routecore / portkey |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
    for (const c of levels) {
      const m = runs.find((r) => r.connections === c && r.target === 'mock direct')!;
      const g = runs.find((r) => r.connections === c && r.target === 'routecore serve (routed)')!;
      const p = runs.find((r) => r.connections === c && r.target === 'portkey gateway');
      md.push(
        `| ${c} | ${m.rps.toFixed(0)} | ${m.p50.toFixed(2)} / ${m.p99.toFixed(2)} | ${g.rps.toFixed(0)} | ${g.p50.toFixed(2)} / ${g.p99.toFixed(2)} | ${(g.p50 - m.p50).toFixed(2)} | ` +
          (p ? `${p.rps.toFixed(0)} | ${p.p50.toFixed(2)} / ${p.p99.toFixed(2)} | ${(g.rps / p.rps).toFixed(1)}x |` : '- | - | - |'),
      );
    }
    const routeOnly = levels.map((c) => runs.find((r) => r.connections === c && r.target === 'routecore /v1/route only')!);
    md.push('', '| connections | /v1/route only req/s | p50 / p99 ms |', '| ---: | ---: | ---: |');
    for (const r of routeOnly) md.push(`| ${r.connections} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} / ${r.p99.toFixed(2)} |`);
    console.log('\n' + md.join('\n'));
    if (args.json) writeFileSync(args.json, JSON.stringify({ schema: 1, startedAt: new Date().toISOString(), cpus: cpus().length, load: loadavg(), seconds, runs }, null, 2));
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
