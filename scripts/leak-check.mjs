#!/usr/bin/env node
// Leak check: resident memory before and after 10^6 Router.routeSync calls on the normal build
// (dist/ + build/Release). Prompts vary in length and script so every encoder path runs; the
// process runs with --expose-gc and collects before each reading. Prints RSS and V8 heap at
// start, after a 10^4-call warm-up (the baseline: scratch buffers and JIT are in place by then)
// and at the end; exits 1 when RSS grew by more than --max-growth-mb (default 16) over the
// baseline, i.e. more than ~16 bytes per call.
// node --expose-gc scripts/leak-check.mjs [--calls N] [--max-growth-mb M]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000000' }, 'max-growth-mb': { type: 'string', default: '16' } } });
const calls = Number(values.calls);
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const { Router } = await import(join(root, 'dist', 'src', 'index.js'));

const mb = (n) => (n / 2 ** 20).toFixed(1);
const reading = () => {
  globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external };
};
const router = Router.loadSync('default', { backend: 'cpu', threads: 1 });
const prompts = [];
for (let i = 0; i < 997; i++) {
  prompts.push(i % 3 === 0 ? `Compute ${i} plus ${i * 7}, then divide by ${i % 13 + 1}.` : i % 3 === 1 ? `Wer schrieb das Buch Nummer ${i}? 東京 😀 ${'x'.repeat(i % 200)}` : i % 30 === 2 ? `lone \ud800 surrogate ${i}` : `plain words ${i} ${'word '.repeat(i % 50)}`);
}
// One prompt in 30 has a lone surrogate: routeSync throws ERR_ROUTECORE_INVALID_ARGUMENT, so the
// error path is measured too.
let sink = 0, refused = 0;
const route = (p) => {
  try {
    sink += router.routeSync(p).scores.strong ?? 0;
  } catch (err) {
    if (err.code !== 'ERR_ROUTECORE_INVALID_ARGUMENT') throw err;
    refused++;
  }
};
const start = reading();
for (let i = 0; i < 10_000; i++) route(prompts[i % prompts.length]);
const baseline = reading();
const t0 = Date.now();
refused = 0;
for (let i = 0; i < calls; i++) route(prompts[i % prompts.length]);
const seconds = (Date.now() - t0) / 1000;
const end = reading();
router.dispose();
const growth = end.rss - baseline.rss;
console.log(`leak check: ${calls} routeSync calls (${refused} refused with a coded error) in ${seconds.toFixed(0)} s (checksum ${sink.toFixed(0)})`);
console.log(`  RSS      start ${mb(start.rss)} MB, after 10^4 warm-up ${mb(baseline.rss)} MB, after ${calls} calls ${mb(end.rss)} MB (growth ${mb(growth)} MB)`);
console.log(`  V8 heap  start ${mb(start.heap)} MB, after warm-up ${mb(baseline.heap)} MB, end ${mb(end.heap)} MB; external ${mb(end.external)} MB`);
if (growth > Number(values['max-growth-mb']) * 2 ** 20) {
  console.error(`leak check FAILED: RSS grew by ${mb(growth)} MB over ${calls} calls`);
  process.exit(1);
}
