/**
 * P13: what shadow judging costs the client. Three `routecore serve` processes on the same mock
 * upstreams — shadowing off, at 5% and at 100% (comparison model + two judge calls per sampled
 * request, in the same gateway process) — are driven in one run by autocannon at each connection
 * level, the three targets in a rotating order, `--rounds` times; the report gives the median of the
 * rounds for client-visible p50/p99 (per response, fractional ms) and requests per second.
 * Between runs the driver waits until the previous target's shadow work has drained (`/v1/stats`).
 *
 * `node dist/bench/shadow.js [--connections 1,16] [--duration 3] [--rounds 3] [--json FILE]`
 * (`npm run bench:shadow`). This measures the gateway and the shadow machinery, not an LLM: the mock
 * answers at once, so the shadow calls compete for the same CPU as the client's requests — the worst
 * case for the client (real upstreams spend their time waiting on the network, not on this CPU).
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startServer, type Server } from './servers.js';

import { packageRoot } from '../src/addon/native.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,16' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    child: { type: 'string' },
  },
  strict: true,
});

const PROMPTS = [
  'Fix the bug in this function:\n```js\nfunction sum(a) { let t = 0; for (let i = 0; i <= a.length; i++) t += a[i]; return t; }\n```',
  'Give me three names for a bakery near the harbor.',
  'A train leaves the station at 3pm travelling at 60 miles per hour. When does a second train at 80 mph, leaving at 4pm, catch up?',
  'Write a short poem about the winter garden.',
];

/** Child mode: a mock upstream on a free port (`judge` answers a tie in the MT-Bench convention). */
async function mockChild(name: string): Promise<void> {
  const { startMockUpstream } = await import('../test/helpers/mock-upstream.js');
  const mock = await startMockUpstream(name === 'judge' ? { name, answer: () => 'Both answers are equally good.\n[[C]]' } : { name });
  setInterval(() => (mock.requests.length = 0), 200).unref();
  process.stdout.write(`port ${mock.port}\n`);
  process.on('SIGTERM', () => void mock.close().then(() => process.exit(0)));
}

interface Run {
  target: string;
  connections: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  judged: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function stats(port: number): Promise<{ judged: number; running: number; sampled: number }> {
  const s = (await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json()) as { judged: number; shadow: { running?: number; sampled?: number } };
  return { judged: s.judged, running: s.shadow.running ?? 0, sampled: s.shadow.sampled ?? 0 };
}

async function load(target: Server, connections: number, seconds: number): Promise<Run> {
  const latencies: number[] = [];
  let k = 0;
  const requests = PROMPTS.map((p) => ({ method: 'POST' as const, body: JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: `${p} (${k++})` }] }) }));
  const instance = autocannon({ url: `http://127.0.0.1:${target.port}/v1/chat/completions`, headers: { 'content-type': 'application/json' }, requests, connections, duration: seconds, pipelining: 1 });
  (instance as unknown as { on(e: string, f: (c: unknown, s: number, b: number, ms: number) => void): void }).on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  // Let the shadow work of this run drain before the next target runs.
  const deadline = Date.now() + 120_000;
  while ((await stats(target.port)).running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return { target: target.name, connections, requests: latencies.length, errors: result.errors + result.timeouts + result.non2xx, rps: latencies.length / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), judged: (await stats(target.port)).judged };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  if (args.child) return mockChild(args.child);
  const levels = args.connections.split(',').map((s) => Number(s.trim()));
  const seconds = Number(args.duration);
  const rounds = Number(args.rounds);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-bench-shadow-'));
  const servers: Server[] = [];
  const self = fileURLToPath(import.meta.url);
  try {
    const models = await startServer('mock', [self, '--child', 'models'], {}, /port (\d+)/);
    servers.push(models);
    const judge = await startServer('judge', [self, '--child', 'judge'], {}, /port (\d+)/);
    servers.push(judge);
    const registry = join(dir, 'models.json');
    writeFileSync(
      registry,
      JSON.stringify({
        models: [
          { id: 'big', baseUrl: `http://127.0.0.1:${models.port}/v1`, inputCostPer1M: 10, outputCostPer1M: 30 },
          { id: 'small', baseUrl: `http://127.0.0.1:${models.port}/v1`, inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
          { id: 'judge', baseUrl: `http://127.0.0.1:${judge.port}/v1`, inputCostPer1M: 1, outputCostPer1M: 2 },
        ],
      }),
    );
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const targets: Server[] = [];
    for (const rate of [0, 0.05, 1]) {
      const name = rate === 0 ? 'shadow 0%' : `shadow ${rate * 100}%`;
      const config = join(dir, `g-${rate}.yaml`);
      writeFileSync(config, `log: {kind: sqlite, path: ${join(dir, `log-${rate}.sqlite`)}}\n` + (rate > 0 ? `shadow: {rate: ${rate}, judge: judge, maxConcurrent: 256, budgetUsdPerDay: 100000}\n` : ''));
      const g = await startServer(name, [cli, 'serve', '--registry', registry, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', config], { ROUTECORE_BACKEND: 'cpu' }, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
      servers.push(g);
      targets.push(g);
    }
    process.stderr.write(`P13 shadow judging: ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds of ${seconds} s per target and level\n`);
    // Warm-up: every target answers (and shadows) a little before anything is measured.
    for (const t of targets) await load(t, 4, 1);
    const runs: Run[] = [];
    for (const c of levels) {
      for (let r = 0; r < rounds; r++) {
        const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
        for (const t of order) {
          const run = await load(t, c, seconds);
          runs.push(run);
          process.stderr.write(`  ${t.name.padEnd(12)} c=${c} round ${r + 1}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, ${run.errors} errors\n`);
        }
      }
    }
    const rows: string[] = ['| connections | target | req/s (median) | p50 ms | p99 ms | client errors | judged (total so far) |', '| --- | --- | --- | --- | --- | --- | --- |'];
    const summary: Record<string, unknown>[] = [];
    for (const c of levels) {
      for (const t of targets) {
        const rs = runs.filter((x) => x.connections === c && x.target === t.name);
        const s = { connections: c, target: t.name, rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((n, x) => n + x.errors, 0), judged: Math.max(...rs.map((x) => x.judged)) };
        summary.push(s);
        rows.push(`| ${c} | ${t.name} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.errors} | ${s.judged} |`);
      }
    }
    process.stdout.write(rows.join('\n') + '\n');
    if (args.json) writeFileSync(args.json, JSON.stringify({ cpus: cpus().length, seconds, rounds, summary, runs }, null, 2));
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
