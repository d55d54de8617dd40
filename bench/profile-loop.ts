/**
 * A tight loop to profile under `perf record` or `node --cpu-prof` (docs/PERFORMANCE.md, "Where the
 * time goes"); it reports nothing but its own rate.
 *
 *   node --perf-basic-prof dist/bench/profile-loop.js --mode routeSync --router R --seconds 10
 *   node dist/bench/profile-loop.js --mode dense --batch 256 --seconds 10
 *
 * `routeSync`: P1's loop (≈500-char prompts from the RouterBench test files, or synthetic).
 * `dense`: P4's routecore side, `scoreEmbeddingsSync` on 384-d rows, `--batch` rows per call,
 * on the P4 router (trained here when `--router` is not given).
 * `typescript`: P5's TypeScript side on pre-encoded rows of the `--router` hashing router.
 * @module
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Router } from '../src/index.js';
import { ReferenceRouter } from '../src/research.js';
import { binding, packageRoot } from '../src/addon/native.js';
import { sink } from './common.js';
import { loadRouterBench, p1PromptSet, syntheticCorpus } from './corpus.js';
import { DENSE_DIM, denseQueries, denseRouter } from './dense.js';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'routeSync' },
    router: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
  },
  strict: true,
});

async function main(): Promise<void> {
  const seconds = Number(args.seconds);
  const threads = Number(args.threads);
  const batch = Number(args.batch);
  const prompts = p1PromptSet((loadRouterBench(join(packageRoot(), '..', 'shared', 'data')) ?? syntheticCorpus()).testPrompts);
  let step: () => void;
  let unit = 'calls';
  if (args.mode === 'routeSync') {
    const router = Router.loadSync(args.router ?? 'default', { backend: 'cpu', threads });
    let i = 0;
    step = () => {
      sink.n += router.routeSync(prompts[i++ % prompts.length]!).fallbacks.length;
    };
  } else if (args.mode === 'dense') {
    const path = args.router ?? (await denseRouter({ routerPath: join(mkdtempSync(join(tmpdir(), 'routecore-prof-')), 'x.router'), p1Prompts: [], quick: false, threads })).path;
    const raw = binding().NativeRouter.load(readFileSync(path), path, 'cpu', threads);
    const x = denseQueries(batch * 8);
    const out = new Float32Array(batch * raw.outputs);
    let i = 0;
    step = () => {
      const j = i++ & 7;
      raw.scoreEmbeddingsSync(x.subarray(j * batch * DENSE_DIM, (j + 1) * batch * DENSE_DIM), batch, DENSE_DIM, out);
      sink.n += out[0]!;
    };
  } else if (args.mode === 'typescript') {
    const bytes = readFileSync(args.router ?? join(packageRoot(), 'models', 'default.router'));
    const raw = binding().NativeRouter.load(bytes, 'router', 'cpu', 1);
    const ref = ReferenceRouter.fromBytes(bytes);
    const rows = prompts.slice(0, 256).map((p) => {
      const b = Buffer.from(p, 'utf8');
      return raw.encode(b, Uint32Array.of(0, b.length), 1);
    });
    const out = new Float32Array(ref.outputs);
    let i = 0;
    step = () => {
      ref.scoreSparse(rows[i++ % rows.length]!, out);
      sink.n += out[0]!;
    };
  } else {
    throw new Error(`--mode: routeSync, dense or typescript, not ${args.mode}`);
  }
  unit = `${args.mode} calls`;
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (let k = 0; k < 100; k++) step();
    n += 100;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`${n} ${unit} in ${s.toFixed(2)} s: ${((s / n) * 1e6).toFixed(2)} µs/call`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
