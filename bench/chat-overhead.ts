/**
 * What routing plus the executor add per request over calling the upstream directly, measured in one
 * run with the calls interleaved (direct, routed, direct, routed, ...), against the project's mock
 * upstream in a child process on 127.0.0.1. Not a test and not in the bench smoke test.
 *
 * Run: npm run build:ts && nice -n 10 node dist/bench/chat-overhead.js [--calls 3000] [--warmup 300]
 *
 * - direct: undici `request` with a keep-alive Agent, the same JSON body, body read to the end.
 * - routed: `executor.complete` — routeChat (the embedded default router, threshold policy) +
 *   executor (key lookup, attempt bookkeeping, response rewrite, metrics, outcome record).
 * - the same two for `stream: true`, reading every chunk.
 * Reports p50/p99 per competitor and the paired per-call differences.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

import { Executor } from '../src/execution/executor.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { load1, machine, percentile } from './common.js';

const { values } = parseArgs({ options: { calls: { type: 'string' }, warmup: { type: 'string' } } });
const CALLS = Number(values.calls ?? 3000);
const WARMUP = Number(values.warmup ?? 300);

const child = fork(join(import.meta.dirname, 'mock-child.js'), ['bench'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const { baseUrl } = await new Promise<{ baseUrl: string }>((resolve) => child.once('message', (m) => resolve(m as { baseUrl: string })));

const registry = Registry.fromObject({
  models: [
    { id: 'strong', baseUrl, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 10, outputCostPer1M: 30 },
    { id: 'weak', baseUrl, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 0.6, outputCostPer1M: 0.6 },
  ],
});
const router = await Router.load('default', { registry });
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
const executor = new Executor({ router, env: { BENCH_KEY: 'sk-bench' }, dispatcher: agent });

const PROMPTS = [
  'Prove that there are infinitely many primes.',
  'What is the capital of Australia?',
  'Write a TypeScript function that debounces another function, with tests.',
  'Summarise the causes of the First World War in three sentences.',
];
const url = `${baseUrl}/chat/completions`;
const body = (i: number, stream: boolean) => ({ messages: [{ role: 'system' as const, content: 'Be concise.' }, { role: 'user' as const, content: PROMPTS[i % PROMPTS.length]! }], stream });

async function direct(i: number, stream: boolean): Promise<void> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
    body: JSON.stringify({ model: 'strong', ...body(i, stream), ...(stream ? { stream_options: { include_usage: true } } : {}) }),
    dispatcher: agent,
  });
  await res.body.text();
}

async function routed(i: number, stream: boolean): Promise<void> {
  if (!stream) {
    await executor.complete(body(i, false));
    return;
  }
  const s = await executor.stream(body(i, true));
  for await (const _ of s) {
    // read every chunk
  }
}

const names = ['direct', 'routed', 'directStream', 'routedStream'] as const;
const calls: Record<(typeof names)[number], (i: number) => Promise<void>> = {
  direct: (i) => direct(i, false),
  routed: (i) => routed(i, false),
  directStream: (i) => direct(i, true),
  routedStream: (i) => routed(i, true),
};
const times: Record<string, Float64Array> = Object.fromEntries(names.map((n) => [n, new Float64Array(CALLS)]));
const loadBefore = load1();
for (let i = 0; i < WARMUP; i++) for (const n of names) await calls[n](i);
for (let i = 0; i < CALLS; i++) {
  // Rotate the order so no competitor always runs first (after an idle gap) or last.
  for (let k = 0; k < names.length; k++) {
    const n = names[(i + k) % names.length]!;
    const t0 = performance.now();
    await calls[n](i);
    times[n]![i] = performance.now() - t0;
  }
}
const routeUs = new Float64Array(CALLS);
for (let i = 0; i < CALLS; i++) {
  const t0 = performance.now();
  router.routeChatSync(body(i, false));
  routeUs[i] = (performance.now() - t0) * 1000;
}

const sorted = (a: Float64Array) => Float64Array.from(a).sort();
const stat = (a: Float64Array) => {
  const s = sorted(a);
  return { p50: +percentile(s, 0.5).toFixed(4), p99: +percentile(s, 0.99).toFixed(4) };
};
const diff = (a: Float64Array, b: Float64Array) => Float64Array.from(a, (x, i) => x - b[i]!);
const result = {
  calls: CALLS,
  warmup: WARMUP,
  unit: 'ms',
  direct: stat(times['direct']!),
  routed: stat(times['routed']!),
  addedPaired: stat(diff(times['routed']!, times['direct']!)),
  directStream: stat(times['directStream']!),
  routedStream: stat(times['routedStream']!),
  addedPairedStream: stat(diff(times['routedStream']!, times['directStream']!)),
  routeChatSyncMicros: stat(routeUs),
  load: { before: loadBefore, after: load1() },
  machine: machine(),
};
console.log(JSON.stringify(result, null, 2));
await executor.close();
await agent.close();
router.dispose();
child.disconnect();
