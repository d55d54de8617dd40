/**
 * `routecore serve` as real processes: the CLI answers the OpenAI SDK, reloads on SIGHUP and drains on
 * SIGTERM; two replicas sharing a private redis-server stop calling a model one of them saw fail, and
 * count one key's rate limit and budget together.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hashKey } from '../src/serve/config.js';
import { UPSTREAM_KEYS, chat, post, startFixture, until, type Fixture } from './helpers/gateway-fixture.js';
import { redisUnavailable, startRedis, type TestRedis } from './helpers/redis-server.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping gateway process tests: ${cli} is missing (run \`npm run build:ts\`)`);
const noRedis = redisUnavailable();
if (noRedis) console.warn(noRedis);

interface Replica {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  /** The gateway's log (pino JSON lines): requests at --log-level, operational events such as reloads. */
  stdout: () => string;
  exited: Promise<number | null>;
}

/** Starts `routecore serve` and waits for its "listening on" line. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Replica> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], {
    env: { ...process.env, ...UPSTREAM_KEYS, ROUTECORE_BACKEND: 'cpu', ROUTECORE_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await until(() => /listening on (http:\/\/\S+) /.test(err) || child.exitCode !== null, 'the gateway to listen', 60_000);
  const m = /listening on (http:\/\/\S+) /.exec(err);
  if (!m) throw new Error(`routecore serve did not start: ${err}`);
  return { child, url: m[1]!, stderr: () => err, stdout: () => out, exited };
}

let fx: Fixture;
beforeAll(async () => {
  fx = await startFixture();
}, 30_000);
afterAll(async () => {
  await fx?.close();
});

describe.skipIf(!built)('routecore serve (the process)', () => {
  it('answers the OpenAI SDK with routing, fallbacks, streaming and headers; SIGHUP reloads, SIGTERM drains', async () => {
    const log = join(fx.dir, 'cli.sqlite');
    const cfg = join(fx.dir, 'cli.yaml');
    writeFileSync(cfg, `log: {kind: sqlite, path: ${log}}\nupstream: {retries: 0, cooldownMs: 1}\n`);
    const r = await serve(['--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small', '--config', cfg]);
    try {
      expect(r.stderr()).toContain('no client keys are configured: listening on 127.0.0.1 only');
      expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const routed = await post(`${r.url}/v1/route`, chat());
      const first = routed.body.model as string;
      const second = routed.body.fallbacks[0] as string;
      fx.mock(first).queue({ kind: 'status', status: 502 });
      const { data, response } = await client.chat.completions.create({ model: 'routecore', messages: chat().messages as never }).withResponse();
      expect(data.model).toBe(second);
      expect(response.headers.get('x-routecore-routed')).toBe(first);
      expect(response.headers.get('x-routecore-attempts')).toBe('2');
      expect(response.headers.get('x-routecore-policy')).toBe(routed.body.policy);
      const stream = await client.chat.completions.create({ model: 'routecore', stream: true, messages: chat().messages as never });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      expect(text).toMatch(/^Answer from (big|small)\.$/);

      r.child.kill('SIGHUP');
      await until(() => r.stdout().includes('SIGHUP: router'), 'the reload line');
      expect(r.stdout()).toMatch(/"event":"reload","ok":true,"msg":"SIGHUP: router \S+ reloaded \(models: /);
      expect((await post(`${r.url}/v1/chat/completions`, chat())).status).toBe(200);

      fx.big.fault = { kind: 'ok', delayMs: 500 };
      fx.small.fault = { kind: 'ok', delayMs: 500 };
      const slow = post(`${r.url}/v1/chat/completions`, chat());
      await until(() => fx.big.requests.length + fx.small.requests.length >= 5, 'the slow call to reach the upstream');
      r.child.kill('SIGTERM');
      expect((await slow).status).toBe(200);
      expect(await r.exited).toBe(0);
      expect(r.stderr()).toContain('SIGTERM: draining');
    } finally {
      fx.reset();
      r.child.kill('SIGKILL');
    }
  }, 120_000);

  it('refuses a bad config file at start, naming the file and field', async () => {
    const cfg = join(fx.dir, 'bad.yaml');
    writeFileSync(cfg, 'keys:\n  - {name: a, sha256: nothex}\n');
    const child = spawn(process.execPath, [cli, 'serve', '--registry', fx.registryPath, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(err).toContain(`${cfg}: field "keys[0].sha256" must be the 64-character hex SHA-256 of the key, got string "nothex" [ERR_ROUTECORE_BAD_CONFIG]`);
  }, 60_000);
});

describe.skipIf(!built || noRedis !== undefined)('two replicas sharing Redis', () => {
  let redis: TestRedis;
  let a: Replica;
  let b: Replica;
  const KEY = 'sk-shared-client-key-0001';
  beforeAll(async () => {
    redis = await startRedis();
    const cfg = join(fx.dir, 'replica.yaml');
    writeFileSync(
      cfg,
      [
        'upstream: {retries: 0, cooldownMs: 60000}',
        'log: {kind: none}',
        'keys:',
        `  - {name: shared, sha256: ${hashKey(KEY)}, requestsPerMinute: 1000}`,
        `  - {name: limited, sha256: ${hashKey('sk-limited-client-0002')}, requestsPerMinute: 2}`,
        `  - {name: spender, sha256: ${hashKey('sk-spender-client-0003')}, budgetUsd: 0.00001}`,
      ].join('\n'),
    );
    const args = ['--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small', '--config', cfg, '--redis', redis.url, '--host', '127.0.0.1'];
    [a, b] = await Promise.all([serve(args), serve(args)]);
  }, 120_000);
  afterAll(async () => {
    for (const r of [a, b]) r?.child.kill('SIGTERM');
    await Promise.all([a?.exited, b?.exited]);
    await redis?.stop();
  });

  const auth = (k = KEY) => ({ authorization: `Bearer ${k}` });

  it('a model that fails on replica A leaves replica B\'s decisions', async () => {
    const routed = await post(`${b.url}/v1/route`, chat(), auth());
    const failing = routed.body.model as string;
    const healthy = routed.body.fallbacks[0] as string;
    fx.mock(failing).fault = { kind: 'status', status: 503 };
    const viaA = await post(`${a.url}/v1/chat/completions`, chat(), auth());
    expect(viaA.status).toBe(200);
    expect(viaA.headers.get('x-routecore-model')).toBe(healthy);
    const answeredAt = performance.now();
    // Measured, not asserted: how long after A's answer B's decisions stop naming the failing model.
    await until(async () => (await post(`${b.url}/v1/route`, chat(), auth())).body.model === healthy, 'replica B to take the failing model out', 10_000);
    const propagationMs = performance.now() - answeredAt;
    console.log(`cool-down reached replica B ${propagationMs.toFixed(1)} ms after replica A's answer (includes one /v1/route round trip per poll)`);
    const callsBefore = fx.mock(failing).requests.length;
    for (let i = 0; i < 5; i++) {
      const viaB = await post(`${b.url}/v1/chat/completions`, chat(), auth());
      expect(viaB.status).toBe(200);
      expect(viaB.headers.get('x-routecore-model')).toBe(healthy);
      expect(viaB.headers.get('x-routecore-attempts')).toBe('1');
    }
    expect(fx.mock(failing).requests.length).toBe(callsBefore);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/^routecore_cooldowns_active 1$/m);
    expect(metrics).toMatch(/^routecore_redis_up 1$/m);
    // Calibration counters: A's scrape counts B's five decisions too (one on A, five on B).
    const fleet = async () =>
      [...(await (await fetch(`${a.url}/metrics`)).text()).matchAll(/^routecore_fleet_decisions_hour\{model="[^"]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    await until(async () => (await fleet()) >= 6, 'the fleet decision counters to include replica B');
    fx.reset();
  }, 60_000);

  it('counts a key\'s rate limit across replicas', async () => {
    const k = 'sk-limited-client-0002';
    const s1 = (await post(`${a.url}/v1/route`, chat(), auth(k))).status;
    expect(s1).toBe(200); // /v1/route is not rate-limited; chat completions are
    const statuses = [];
    for (const r of [a, b, a, b]) statuses.push((await post(`${r.url}/v1/chat/completions`, chat(), auth(k))).status);
    // Two per minute in total, wherever they land (a minute boundary may reset the window once).
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('counts a key\'s budget across replicas', async () => {
    const k = 'sk-spender-client-0003';
    expect((await post(`${a.url}/v1/chat/completions`, chat(), auth(k))).status).toBe(200);
    let r = await post(`${b.url}/v1/chat/completions`, chat(), auth(k));
    for (let i = 0; i < 20 && r.status === 200; i++) r = await post(`${b.url}/v1/chat/completions`, chat(), auth(k));
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('budget_exceeded');
  }, 30_000);
});
