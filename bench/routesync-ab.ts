/**
 * `routeSync` of this checkout against another built checkout, in one process: P1's router
 * (mlp, hidden 32, 2^16 hashing buckets, half precision) and prompt set (bench/corpus.ts), loaded
 * by both checkouts' `Router`, timed in interleaved blocks (bench/common.ts) so that load on the
 * machine hits both alike. Both use the addon the other checkout's `build/` holds; point it at
 * this one's (a link) to compare the TypeScript layers alone.
 *
 *   npm run build:ts && node dist/bench/routesync-ab.js --other /path/to/old/checkout [--import-first this|other] [--rounds 4] [--calls 20000]
 *
 * Prints p50/p90/p99 in µs per round for `this` and `other`, and the p50 ratio this/other.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import type { Router } from '../src/index.js';
import { packageRoot } from '../src/addon/native.js';
import { train } from '../src/training/train.js';
import { distribution, interleavedLatency, sink, type IndexedCall } from './common.js';
import { loadRouterBench, p1PromptSet, syntheticCorpus } from './corpus.js';

const { values: args } = parseArgs({
  options: {
    other: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    calls: { type: 'string', default: '20000' },
    epochs: { type: 'string', default: '2' },
    data: { type: 'string' },
    'import-first': { type: 'string', default: 'this' },
  },
  strict: true,
});
if (!args.other) {
  console.error('usage: node dist/bench/routesync-ab.js --other DIR (a checkout with dist/src/index.js built) [--rounds N] [--calls N] [--epochs N] [--data DIR]');
  process.exit(2);
}
// One process's ratio carries a layout bias of its own: two identical checkouts timed this way
// gave p50 ratios from 0.97 to 1.05 across processes. Run several processes of both orders
// (--import-first this, then other) and take the geometric mean of their ratios.
const otherIndex = pathToFileURL(join(resolve(args.other), 'dist', 'src', 'index.js')).href;
const thisIndex = new URL('../src/index.js', import.meta.url).href;
const order = args['import-first'] === 'other' ? [otherIndex, thisIndex] : [thisIndex, otherIndex];
const loaded = new Map<string, typeof Router>();
for (const url of order) loaded.set(url, ((await import(url)) as { Router: typeof Router }).Router);
const This = loaded.get(thisIndex)!;
const Other = loaded.get(otherIndex)!;

const dataDir = resolve(args.data ?? join(packageRoot(), '..', 'shared', 'data'));
const corpus = loadRouterBench(dataDir) ?? syntheticCorpus();
const dir = mkdtempSync(join(tmpdir(), 'routesync-ab-'));
try {
  const routerPath = join(dir, 'p1.router');
  const trained = await train(corpus.trainData, { predictor: 'mlp', hidden: 32, encoder: { log2Buckets: 16 }, maxEpochs: Number(args.epochs), seed: 1, backend: 'cpu', threads: 1 });
  await trained.router.save(routerPath, { halfPrecision: true });
  trained.router.dispose();
  const prompts = p1PromptSet(corpus.testPrompts);
  const mine = This.loadSync(routerPath, { backend: 'cpu', threads: 1 });
  const theirs = Other.loadSync(routerPath, { backend: 'cpu', threads: 1 });
  for (const p of prompts.slice(0, 50)) {
    if (mine.routeSync(p).model !== theirs.routeSync(p).model) throw new Error('the two checkouts decide differently on the same router');
  }
  const calls: Record<string, IndexedCall> = {
    this: (i) => {
      sink.n += mine.routeSync(prompts[i]!).fallbacks.length;
    },
    other: (i) => {
      sink.n += theirs.routeSync(prompts[i]!).fallbacks.length;
    },
  };
  console.log(`corpus ${corpus.source}, ${prompts.length} prompts, other = ${args.other}, imported first: ${args['import-first']}`);
  const ratios: number[] = [];
  for (let round = 1; round <= Number(args.rounds); round++) {
    // The first competitor of a block measured ~1% slower in an A/A run (both sides this checkout):
    // alternate which side goes first, and compare rounds in pairs.
    const order = round % 2 === 1 ? ['this', 'other'] : ['other', 'this'];
    const competitors = Object.fromEntries(order.map((k) => [k, calls[k]!]));
    const samples = interleavedLatency(competitors, Number(args.calls), 3000, 1000, prompts.length);
    const a = distribution(samples.this!);
    const b = distribution(samples.other!);
    const f = (x: number) => x.toFixed(2);
    ratios.push(a.p50 / b.p50);
    console.log(`round ${round} (${order[0]} first): this p50 ${f(a.p50)} p90 ${f(a.p90)} p99 ${f(a.p99)} µs | other p50 ${f(b.p50)} p90 ${f(b.p90)} p99 ${f(b.p99)} µs | p50 this/other ${(a.p50 / b.p50).toFixed(3)}`);
  }
  console.log(`mean p50 this/other over ${ratios.length} rounds: ${(ratios.reduce((x, y) => x + y, 0) / ratios.length).toFixed(4)}`);
  mine.dispose();
  theirs.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
