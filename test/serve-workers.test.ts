/**
 * `routecore serve --workers N` (node:cluster) as a process: every worker answers, SIGTERM drains every
 * worker (a request in flight is answered, then all exit 0), a cool-down seen by one worker is honoured
 * by the other through Redis within a stated time (and, without Redis, is not: the state is per
 * worker, as the startup line says), and `npx routecore serve` stops when npx is sent SIGTERM instead
 * of leaving the server orphaned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UPSTREAM_KEYS, chat, startFixture, until, type Fixture } from './helpers/gateway-fixture.js';
import { redisUnavailable, startRedis, type TestRedis } from './helpers/redis-server.js';
import { cgroupCpuQuota, parseWorkers } from '../src/serve/workers.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping the --workers tests: ${cli} is missing (run \`npm run build:ts\`)`);
const noRedis = redisUnavailable();

/** The stated bound: a cool-down set by one worker is honoured by the other within this many ms (Redis pub/sub; measured figure printed). */
const COOLDOWN_PROPAGATION_BOUND_MS = 2000;

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function serve(args: string[], command: string[] = [process.execPath, cli], options: { cwd?: string } = {}): Promise<Served> {
  const child = spawn(command[0]!, [...command.slice(1), 'serve', '--port', '0', ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...UPSTREAM_KEYS, ROUTECORE_BACKEND: 'cpu', ROUTECORE_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', () => undefined);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = args.includes('--workers') ? /listening on (http:\/\/\S+) with \d+ workers/ : /listening on (http:\/\/\S+) /;
  await until(() => ready.test(err) || child.exitCode !== null, 'the gateway to listen', 90_000);
  const m = ready.exec(err);
  if (!m) throw new Error(`routecore serve did not start: ${err}`);
  return { child, url: m[1]!, stderr: () => err, exited };
}

/** One keep-alive connection per worker: connections are dealt round-robin, so new ones are opened until each pid has one. */
async function clientPerWorker(url: string, workers: number): Promise<Map<number, Client>> {
  const byPid = new Map<number, Client>();
  for (let i = 0; i < 40 && byPid.size < workers; i++) {
    const c = new Client(url, { pipelining: 1 });
    const r = await c.request({ path: '/readyz', method: 'GET' });
    const pid = ((await r.body.json()) as { pid: number }).pid;
    if (byPid.has(pid)) await c.close();
    else byPid.set(pid, c);
  }
  if (byPid.size < workers) throw new Error(`only ${byPid.size} of ${workers} workers answered`);
  return byPid;
}

// biome-ignore lint/suspicious/noExplicitAny: the body is a wire answer under test, any shape; tests check it with expect().
async function postVia(c: Client, path: string, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  const r = await c.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.statusCode, headers: r.headers, body: await r.body.json() };
}

let fx: Fixture;
let cfg: string;
beforeAll(async () => {
  fx = await startFixture();
  cfg = join(fx.dir, 'workers.yaml');
  writeFileSync(cfg, 'upstream: {retries: 0, cooldownMs: 60000}\nlog: {kind: none}\n');
}, 30_000);
afterAll(async () => {
  await fx?.close();
});

const base = () => ['--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small', '--config', cfg];

describe('--workers auto', () => {
  it('counts at most the CPUs of the cgroup quota (a 2-CPU container on a large node gets 2 workers)', () => {
    const files = (map: Record<string, string>) => (path: string) => map[path];
    expect(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '150000 100000' }))).toBe(2);
    expect(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': 'max 100000' }))).toBeUndefined();
    expect(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '50000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }))).toBe(1);
    expect(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }))).toBeUndefined();
    expect(cgroupCpuQuota(files({}))).toBeUndefined();
    expect(parseWorkers('auto', () => 1)).toBe(1);
    expect(parseWorkers('auto', () => undefined)).toBe(availableParallelism());
    expect(parseWorkers('auto', () => 10_000)).toBe(availableParallelism());
  });
});

describe.skipIf(!built)('serve --workers', () => {
  it('refuses a bad --workers value', async () => {
    const child = spawn(process.execPath, [cli, 'serve', ...base(), '--workers', 'many'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
    expect(err).toContain('--workers expects an integer from 1 to 1024 or "auto", got "many"');
  }, 60_000);

  it('exits non-zero at once when a worker cannot start (here: no --alias), instead of hanging with nothing listening', async () => {
    const child = spawn(process.execPath, [cli, 'serve', '--registry', fx.registryPath, '--config', cfg, '--port', '0', '--workers', '2'], { env: { ...process.env, ...UPSTREAM_KEYS }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(err).toContain('map each to a registry id, e.g. --alias');
    expect(err).toMatch(/worker \d+ exited \(code 2\) before it listened; stopping/);
    expect(code).toBe(1);
  }, 90_000);

  it('refuses --learn with --workers (each worker would swap the router file on its own)', async () => {
    const child = spawn(process.execPath, [cli, 'serve', ...base(), '--workers', '2', '--learn', '--router', join(fx.dir, 'learned.router')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
    expect(err).toContain('--learn runs one learner per process and would race with --workers N');
  }, 60_000);

  it('serves on two workers without Redis, says what is per worker, and drains both on SIGTERM', async () => {
    const s = await serve([...base(), '--workers', '2']);
    let clients: Map<number, Client> | undefined;
    try {
      expect(s.stderr()).toContain('with 2 workers');
      expect(s.stderr()).toContain('no --redis: each worker keeps its own cool-downs, budgets, rate limits, sessions and calibration counters');
      clients = await clientPerWorker(s.url, 2);
      const [a, b] = [...clients.values()];
      // Per-worker state: a cool-down on worker A is not seen by worker B.
      const routed = await postVia(b!, '/v1/route', chat());
      const failing = routed.body.model as string;
      fx.mock(failing).fault = { kind: 'status', status: 503 };
      expect((await postVia(a!, '/v1/chat/completions', chat())).headers['x-routecore-model']).not.toBe(failing);
      expect((await postVia(a!, '/v1/route', chat())).body.model).not.toBe(failing);
      await new Promise((r) => setTimeout(r, 300));
      expect((await postVia(b!, '/v1/route', chat())).body.model).toBe(failing);
      fx.reset();
      // One scrape covers every worker: six /healthz on fresh connections land on both, and /metrics counts all six.
      for (let i = 0; i < 6; i++) await (await fetch(`${s.url}/healthz`, { headers: { connection: 'close' } })).text();
      const metrics = await (await fetch(`${s.url}/metrics`, { headers: { connection: 'close' } })).text();
      expect(metrics).toMatch(/^routecore_http_requests_total\{route="\/healthz",status="200"\} 6$/m);
      expect(metrics).toMatch(/^routecore_draining 0$/m);
      // Drain: a slow request in flight on each worker is answered after SIGTERM; then everything exits 0.
      fx.mock('big').fault = { kind: 'ok', delayMs: 1500 };
      fx.mock('small').fault = { kind: 'ok', delayMs: 1500 };
      const inflight = [...clients.values()].map((c) => postVia(c, '/v1/chat/completions', chat()));
      await new Promise((r) => setTimeout(r, 300));
      s.child.kill('SIGTERM');
      const answers = await Promise.all(inflight);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      expect(await s.exited).toBe(0);
      expect(s.stderr()).toMatch(/SIGTERM: draining 2 worker\(s\)/);
      expect(s.stderr().match(/\[worker \d+\]: stopped/g)).toHaveLength(2);
    } finally {
      fx.reset();
      for (const c of clients?.values() ?? []) await c.close().catch(() => undefined);
      s.child.kill('SIGKILL');
    }
  }, 120_000);

  describe.skipIf(noRedis !== undefined)('with Redis', () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
    }, 60_000);
    afterAll(async () => {
      await redis?.stop();
    });

    it(`honours a cool-down seen by one worker on the other within ${COOLDOWN_PROPAGATION_BOUND_MS} ms`, async () => {
      const s = await serve([...base(), '--workers', '2', '--redis', redis.url]);
      let clients: Map<number, Client> | undefined;
      try {
        expect(s.stderr()).toContain('shared through Redis');
        clients = await clientPerWorker(s.url, 2);
        const [a, b] = [...clients.values()];
        const routed = await postVia(b!, '/v1/route', chat());
        const failing = routed.body.model as string;
        const healthy = routed.body.fallbacks[0] as string;
        fx.mock(failing).fault = { kind: 'status', status: 503 };
        const viaA = await postVia(a!, '/v1/chat/completions', chat());
        expect(viaA.status).toBe(200);
        expect(viaA.headers['x-routecore-model']).toBe(healthy);
        const seen = performance.now();
        await until(async () => (await postVia(b!, '/v1/route', chat())).body.model === healthy, 'worker B to take the failing model out', COOLDOWN_PROPAGATION_BOUND_MS);
        const ms = performance.now() - seen;
        console.log(`a cool-down set by worker A reached worker B's decisions ${ms.toFixed(1)} ms after A's answer (bound ${COOLDOWN_PROPAGATION_BOUND_MS} ms; includes one /v1/route round trip per poll)`);
        const calls = fx.mock(failing).requests.length;
        const viaB = await postVia(b!, '/v1/chat/completions', chat());
        expect(viaB.headers['x-routecore-model']).toBe(healthy);
        expect(viaB.headers['x-routecore-attempts']).toBe('1');
        expect(fx.mock(failing).requests.length).toBe(calls);
      } finally {
        fx.reset();
        for (const c of clients?.values() ?? []) await c.close().catch(() => undefined);
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }, 120_000);
  });
});

describe.skipIf(!built)('npx routecore serve', () => {
  it('stops (drains and exits) when npx gets SIGTERM, instead of leaving the server orphaned', async () => {
    // A project that has routecore installed: node_modules/routecore and its bin, as npm would lay them out.
    const proj = join(fx.dir, 'project');
    mkdirSync(join(proj, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(join(proj, 'package.json'), '{"name": "app", "version": "1.0.0", "private": true}');
    symlinkSync(root, join(proj, 'node_modules', 'routecore'), 'dir');
    const bin = join(proj, 'node_modules', '.bin', 'routecore');
    writeFileSync(bin, `#!/usr/bin/env node\nimport(${JSON.stringify(cli)});\n`);
    chmodSync(bin, 0o755);
    const s = await serve(base(), ['npx', 'routecore'], { cwd: proj });
    const pid = ((await (await fetch(`${s.url}/readyz`)).json()) as { pid: number }).pid;
    expect(pid).not.toBe(s.child.pid); // npx -> sh -c -> node: the server is a grandchild
    s.child.kill('SIGTERM');
    await s.exited;
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until(() => !alive(), `the server (pid ${pid}) to exit after npx got SIGTERM`, 15_000).catch((err) => {
      process.kill(pid, 'SIGKILL');
      throw err;
    });
  }, 120_000);
});
