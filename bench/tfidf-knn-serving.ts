/**
 * Serving a TF-IDF kNN router (what `train --auto` chose on open7): what one decision costs and
 * where it runs. The router is trained on open7's six training files (7,598 prompts, the
 * docs/RESULTS.md split), as the `tfidf-knn` member of `train --auto` makes it; the prompts routed
 * are open7-mmlu's test prompts.
 *
 * Figures, each over `--rounds` rounds:
 * - the index alone (`KnnIndex`), one query at a time on the calling thread: the addon's similarity
 *   scatter against the TypeScript one (the same sums), µs per query;
 * - `routeSync`, one prompt at a time: µs per decision (all on the calling thread);
 * - `route()` from 32 concurrent callers for `--seconds`: decisions/s, event-loop busy time and
 *   process CPU per decision, and how late a 1 ms timer fires (monitorEventLoopDelay p50/p99): what
 *   a gateway serving this router keeps of its event loop.
 *
 * `node dist/bench/tfidf-knn-serving.js [--data ../shared/data] [--rounds 3] [--seconds 5]`
 * (ROUTECORE_THREADS=1 for the gateway's setting). Needs the data: exits with a message without it.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { binding, packageRoot } from '../src/addon/native.js';
import type { Router } from '../src/app/router.js';
import { encodeRows, KnnIndex, parseTfidfKnn, TFIDF_KNN_KEY } from '../src/routing/tfidf-knn.js';
import { tfidfKnnRouter } from '../src/training/baselines.js';
import { readOutcomes } from '../src/training/data.js';
import { train } from '../src/training/train.js';

const TRAIN = ['arc_challenge', 'arc_easy', 'cmmlu', 'gsm8k', 'humaneval', 'mmlu'].map((t) => `open7-${t}_train.jsonl`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string' }, rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' } } });
  const dir = values.data ?? join(packageRoot(), '..', 'shared', 'data');
  if (!TRAIN.every((f) => existsSync(join(dir, f)))) {
    console.log(`tfidf-knn-serving: open7's training files are not in ${dir}: nothing to measure (pass --data DIR)`);
    return;
  }
  const rounds = Number(values.rounds), seconds = Number(values.seconds);
  const records = TRAIN.flatMap((f) => readOutcomes(join(dir, f)).records);
  const prompts = readOutcomes(join(dir, 'open7-mmlu_test.jsonl')).records.slice(0, 2000).map((r) => r.prompt);
  // As auto.ts's `tfidf-knn` member: a one-neighbour knn router fits the encoder, the file becomes the kNN.
  const { router: base } = await train(records, { predictor: 'knn', k: 1, dim: 8, encoder: { log2Buckets: 18 } });
  const router = tfidfKnnRouter(base, records, 20);
  console.log(`tfidf-knn-serving: ${records.length} training prompts, ${router.models.length} models; Node ${process.version}, ROUTECORE_THREADS=${process.env['ROUTECORE_THREADS'] ?? '(default)'}`);
  try {
    indexAlone(router, prompts.slice(0, 200), rounds);
    for (let r = 0; r < rounds; r++) {
      const sample = prompts.slice(0, 300);
      const t = performance.now();
      for (const p of sample) router.routeSync(p);
      console.log(`routeSync: ${(((performance.now() - t) * 1000) / sample.length).toFixed(0)} µs per decision`);
    }
    await concurrentRoutes(router, prompts, 1, 8);
    for (let r = 0; r < rounds; r++) await concurrentRoutes(router, prompts, seconds, 32, true);
  } finally {
    router.dispose();
  }
}

/** The index's scatter, addon against TypeScript, one query at a time on this thread. */
function indexAlone(router: Router, prompts: string[], rounds: number): void {
  const native = binding().NativeRouter.load(new Uint8Array(router.serialize()), 'tfidf-knn', 'cpu', 1);
  try {
    const spec = parseTfidfKnn(native.metadata()[TFIDF_KNN_KEY]!, native.outputs);
    const rows = encodeRows(native, spec.prompts);
    const queries = encodeRows(native, prompts);
    const M = native.outputs;
    const indexes = [new KnnIndex(rows, spec.y, M, native.inputDim, spec.k), new KnnIndex(rows, spec.y, M, native.inputDim, spec.k, false)];
    const out = new Float32Array(M);
    for (let r = 0; r < rounds; r++) {
      const us = indexes.map((index) => {
        const t = performance.now();
        for (let q = 0; q < prompts.length; q++) index.score({ rowStart: queries.rowStart.subarray(q, q + 2), index: queries.index, value: queries.value }, out);
        return ((performance.now() - t) * 1000) / prompts.length;
      });
      console.log(`index alone: addon ${us[0]!.toFixed(0)} µs per query, TypeScript ${us[1]!.toFixed(0)} (${(us[1]! / us[0]!).toFixed(2)}×)`);
    }
    for (const index of indexes) index.dispose();
  } finally {
    native.dispose();
  }
}

/** `callers` loops of `await router.route()` for `seconds`. */
async function concurrentRoutes(router: Router, prompts: string[], seconds: number, callers: number, report = false): Promise<void> {
  let next = 0, done = 0, stop = false;
  const caller = async (): Promise<void> => {
    while (!stop) {
      await router.route(prompts[next++ % prompts.length]!);
      done++;
    }
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(Array.from({ length: callers }, caller));
  clearTimeout(timer);
  const secs = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  delay.disable();
  if (!report) return;
  console.log(
    `route(), ${callers} callers: ${(done / secs).toFixed(0)} decisions/s; event loop busy ${(elu.utilization * 100).toFixed(0)}% ` +
      `(${((elu.active * 1000) / done).toFixed(0)} µs per decision), process CPU ${((cpu.user + cpu.system) / done).toFixed(0)} µs per decision; ` +
      `timer delay p50 ${(delay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`,
  );
}

await main();
