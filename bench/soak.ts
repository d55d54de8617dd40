/**
 * Gateway soak: many requests through `routecore serve` (in-process, with the SQLite log) over two
 * mock upstreams that fail at random — 5xx, 429 with Retry-After, resets, malformed answers, timeouts,
 * streams cut after tokens or ended before them — plus bad client requests and clients that hang up
 * mid-stream. Every request must end in an answer or an OpenAI-shaped error, and the log must hold
 * exactly one row per request.
 *
 * `node dist/bench/soak.js [--requests 100000] [--concurrency 32] [--seed 1] [--json FILE]`
 * (test/serve-soak.test.ts runs a 2,000-request version of the same function).
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';

import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { openLogDatabase } from '../src/serve/outcome-log.js';
import { startMockUpstream, type Fault } from '../test/helpers/mock-upstream.js';
import { rng } from './corpus.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  requests: number;
  /** Requests in flight at once (client connections). */
  concurrency?: number;
  /** Seed of the fault and request mix, for a reproducible run. */
  seed?: number;
  /** Share of requests that inject one upstream fault. Default 0.25. */
  faultShare?: number;
  /** Progress lines (every 10%); default none. */
  print?: (line: string) => void;
}

/** What a soak saw. */
export interface SoakResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Client-side outcome counts: `200 json`, `200 stream`, `200 stream error event`, `client abort`, `<status> <code>`. */
  outcomes: Record<string, number>;
  /** Upstream faults injected, by kind. */
  faults: Record<string, number>;
  /** Requests that got neither an answer nor a clear error (must be 0), and the first few reasons. */
  unexpected: number;
  unexpectedExamples: string[];
  /** Rows in the SQLite log, in total and by status. */
  logRows: number;
  logByStatus: Record<string, number>;
}

const UPSTREAM_FAULTS: Fault[] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 429, retryAfter: '0' },
  { kind: 'reset' },
  { kind: 'malformed' },
  { kind: 'timeout' },
  { kind: 'cut', after: 1 },
  { kind: 'truncated', after: 0 },
  { kind: 'status', status: 502 },
];

function isErrorBody(v: unknown): v is { error: { message: string; type: string; code: string; attempts?: unknown[] } } {
  const e = (v as { error?: Record<string, unknown> } | null)?.error;
  return typeof e === 'object' && e !== null && typeof e['message'] === 'string' && typeof e['type'] === 'string' && typeof e['code'] === 'string';
}

/** Runs the soak and returns its counts; never throws for a bad answer (it counts it). */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const total = options.requests;
  const concurrency = options.concurrency ?? 32;
  const random = rng(options.seed ?? 1);
  const faultShare = options.faultShare ?? 0.25;
  const print = options.print ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-soak-'));
  const big = await startMockUpstream({ name: 'big' });
  const small = await startMockUpstream({ name: 'small' });
  const registry = join(dir, 'models.json');
  writeFileSync(
    registry,
    JSON.stringify({
      models: [
        { id: 'big', baseUrl: big.baseUrl, apiKeyEnv: 'SOAK_BIG', inputCostPer1M: 10, outputCostPer1M: 30 },
        { id: 'small', baseUrl: small.baseUrl, apiKeyEnv: 'SOAK_SMALL', inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
      ],
    }),
  );
  const env = { SOAK_BIG: 'sk-soak-big-000000', SOAK_SMALL: 'sk-soak-small-00000' };
  const config = resolveServeConfig({ registry, aliases: { strong: 'big', weak: 'small' }, port: '0', timeoutMs: '250' }, env);
  config.log = { ...config.log, kind: 'sqlite', path: join(dir, 'soak.sqlite'), flushMs: 100 };
  // Short cool-downs keep both models in play under a steady rain of faults.
  config.upstream = { retries: 1, backoffMs: 1, maxRetryAfterMs: 20, cooldownMs: 20 };
  // The soak counts outcomes itself: the gateway's log lines (a warn per injected fault) would bury its report.
  const gateway = await Gateway.start(config, { env, logStream: { write: () => undefined } });
  const pool = new Pool(gateway.url, { connections: concurrency, headersTimeout: 30_000, bodyTimeout: 30_000 });

  const outcomes: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const examples: string[] = [];
  let unexpected = 0;
  const count = (k: string) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
  const bad = (why: string) => {
    unexpected++;
    if (examples.length < 10) examples.push(why);
  };

  async function one(i: number): Promise<void> {
    const r = random();
    let body: string;
    let stream = false;
    let abortAfterFirstChunk = false;
    if (r < 0.01) body = '{"model": "routecore", "messages": [';
    else if (r < 0.02) body = JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] });
    else if (r < 0.03) body = JSON.stringify({ model: 'routecore', messages: [] });
    else {
      stream = random() < 0.3;
      abortAfterFirstChunk = stream && random() < 0.05;
      const model = random() < 0.8 ? 'routecore' : random() < 0.5 ? 'big' : 'small';
      body = JSON.stringify({ model, stream, messages: [{ role: 'user', content: `Request ${i}: ${random() < 0.5 ? 'prove a theorem about primes' : 'say hello'}` }] });
    }
    if (random() < faultShare) {
      const f = UPSTREAM_FAULTS[Math.floor(random() * UPSTREAM_FAULTS.length)]!;
      (random() < 0.5 ? big : small).queue(f);
      const k = f.kind === 'status' ? `status ${f.status}` : f.kind;
      faults[k] = (faults[k] ?? 0) + 1;
    }
    const ac = new AbortController();
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: ac.signal });
    } catch (err) {
      bad(`request ${i}: no answer: ${(err as Error).message}`);
      return;
    }
    try {
      const status = res.statusCode;
      const answered = res.headers['x-routecore-model'];
      if (status === 200 && stream) {
        let text = '';
        let firstSeen = false;
        for await (const part of res.body) {
          text += (part as Buffer).toString('utf8');
          if (!firstSeen && text.includes('\n\n')) {
            firstSeen = true;
            if (abortAfterFirstChunk) {
              ac.abort();
              count('client abort mid-stream');
              return;
            }
          }
        }
        const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
        const last = events.at(-1);
        if (last === '[DONE]') {
          const models = new Set(events.slice(0, -1).map((e) => (JSON.parse(e) as { model: string }).model));
          if (models.size !== 1 || !models.has(String(answered))) bad(`request ${i}: stream chunks name ${[...models].join(',')} but the header says ${String(answered)}`);
          else count('200 stream');
        } else if (last !== undefined && isErrorBody(JSON.parse(last))) {
          count(`200 stream error event ${(JSON.parse(last) as { error: { code: string } }).error.code}`);
        } else bad(`request ${i}: stream ended without [DONE] or an error event: ${text.slice(-200)}`);
        return;
      }
      const text = await res.body.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        bad(`request ${i}: status ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
        return;
      }
      if (status === 200) {
        const p = parsed as { model?: string; choices?: { message?: { content?: unknown } }[] };
        if (typeof p.choices?.[0]?.message?.content !== 'string' || p.model !== answered) bad(`request ${i}: 200 without a usable completion: ${text.slice(0, 200)}`);
        else count('200 json');
        return;
      }
      if (!isErrorBody(parsed)) {
        bad(`request ${i}: status ${status} without an OpenAI-shaped error: ${text.slice(0, 200)}`);
        return;
      }
      if (status >= 500 && parsed.error.code !== 'no_eligible_model' && !(Array.isArray(parsed.error.attempts) && parsed.error.attempts.length > 0)) {
        bad(`request ${i}: ${status} that names no attempt: ${text.slice(0, 200)}`);
        return;
      }
      count(`${status} ${parsed.error.code}`);
    } catch (err) {
      if (ac.signal.aborted) return;
      bad(`request ${i}: reading the answer failed: ${(err as Error).message}`);
    }
  }

  const started = performance.now();
  let next = 0;
  let done = 0;
  let decile = 0;
  async function lane(): Promise<void> {
    while (next < total) {
      const i = next++;
      await one(i);
      done++;
      if (done % 1000 === 0) {
        // The mocks record every request; the soak needs no history.
        big.requests.length = 0;
        small.requests.length = 0;
      }
      if (Math.floor((done * 10) / total) > decile) {
        decile = Math.floor((done * 10) / total);
        print(`${done}/${total} requests, ${((done / (performance.now() - started)) * 1000).toFixed(0)} req/s, unexpected ${unexpected}`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, () => lane()));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  await gateway.close();
  const db = openLogDatabase(config.log.path, { readonly: true });
  const logRows = (db.prepare('SELECT count(*) AS n FROM outcomes').get() as { n: number }).n;
  const logByStatus: Record<string, number> = {};
  for (const r of db.prepare('SELECT status, http_status, count(*) AS n FROM outcomes GROUP BY status, http_status ORDER BY n DESC').all() as { status: string; http_status: number; n: number }[]) {
    logByStatus[`${r.status} ${r.http_status}`] = r.n;
  }
  db.close();
  await big.close();
  await small.close();
  rmSync(dir, { recursive: true, force: true });
  return { requests: total, seconds, requestsPerSecond: total / seconds, outcomes, faults, unexpected, unexpectedExamples: examples, logRows, logByStatus };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '32' }, seed: { type: 'string', default: '1' }, json: { type: 'string' } } });
  const result = await runSoak({
    requests: Number(values.requests),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
    print: (l) => console.log(l),
  });
  console.log(JSON.stringify(result, null, 2));
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
  const ok = result.unexpected === 0 && result.logRows === result.requests;
  console.log(ok ? `soak passed: ${result.requests} requests, every one answered or refused clearly, ${result.logRows} log rows` : 'soak FAILED');
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
