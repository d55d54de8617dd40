/**
 * What `train --auto`'s post-processing costs on the hot path: `routeSync` p50 of the same linear
 * network as a plain router, with blend + calibration applied (an `--auto` router), and as a
 * two-member ensemble, interleaved in rounds so machine drift hits all three alike.
 *
 * Run: npm run build:ts && node dist/scripts/auto-overhead.js [--data F.jsonl] [--rounds N]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { binding, packageRoot } from '../src/addon/native.js';
import { readOutcomes } from '../src/training/data.js';
import { Router } from '../src/app/router.js';
import { ScorePostprocess, parsePostprocess } from '../src/routing/postprocess.js';
import { train } from '../src/training/train.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string' }, rounds: { type: 'string' } } });
  const file = values.data ?? join(packageRoot(), '..', '..', 'shared', 'data', 'routerbench-mbpp_train.jsonl');
  const rounds = Number(values.rounds ?? 20);
  const records = readOutcomes(file).records;
  const plain = (await train(records, { predictor: 'linear', seed: 1 })).router;
  const M = plain.models.length;
  // The same network with what --auto stores: a blend and Platt calibration, then also one extra member.
  const spec = { version: 1, members: 0, beta: 0.5, prior: new Array<number>(M).fill(0.5), calibration: { kind: 'platt', a: new Array<number>(M).fill(1.2), b: new Array<number>(M).fill(-0.1) }, cost: null };
  const bytes = plain.serialize();
  const withPost = Router.loadSync(bytes);
  const blended = Router.loadSync(withMeta(withPost, { 'routecore.postprocess': JSON.stringify(spec) }));
  const ensemble = Router.loadSync(withMeta(withPost, { 'routecore.postprocess': JSON.stringify({ ...spec, members: 1 }), 'routecore.member.1': bytes.toString('base64') }));
  withPost.dispose();
  const routers: [string, Router][] = [['plain linear', plain], ['+ blend and Platt calibration', blended], ['+ a second member (the same network)', ensemble]];
  const prompts = records.map((r) => r.prompt);
  const times: number[][] = routers.map(() => []);
  for (let round = 0; round < rounds; round++) {
    routers.forEach(([, r], k) => {
      const t0 = performance.now();
      for (const p of prompts) r.routeSync(p);
      times[k]!.push(((performance.now() - t0) * 1000) / prompts.length);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (let k = 0; k < routers.length; k++) console.log(`${routers[k]![0]}: median over ${rounds} rounds of the mean routeSync time per prompt ${median(times[k]!).toFixed(2)} µs (${prompts.length} prompts, ${routers[k]![1].models.length} models)`);
  // The post-processing step alone, on a batch of score rows (what routeSync adds per prompt).
  const post = new ScorePostprocess(parsePostprocess(JSON.stringify(spec), M), M);
  const rows = 100_000;
  const buf = new Float32Array(rows * M).map((_, i) => (i % 97) / 97);
  post.apply(buf, rows);
  const t0 = performance.now();
  post.apply(buf, rows);
  console.log(`blend + Platt alone: ${(((performance.now() - t0) * 1000) / rows).toFixed(3)} µs per prompt (${M} models)`);
  for (const [, r] of routers) r.dispose();
}

/** The router's bytes with extra metadata entries (set on a native handle, as train --auto does). */
function withMeta(r: Router, meta: Record<string, string>): Buffer {
  const handle = binding().NativeRouter.load(r.serialize(), 'auto-overhead', 'cpu', 0);
  try {
    for (const [k, v] of Object.entries(meta)) handle.setMetadata(k, v);
    return handle.serialize(false);
  } finally {
    handle.dispose();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
