/**
 * P5: the same predictor in plain TypeScript (src/reference.ts, reading the same `.router` bytes)
 * against routecore, same process, same input, both on one thread (routecore loaded with
 * threads: 1, so a 256-row batch is not split over a pool).
 *
 * - dense: the P4 mlp on 384-d embeddings. routecore `scoreEmbeddingsSync` (internal binding, scores
 *   only) vs `ReferenceRouter.scoreDense`.
 * - hashing: the P1 router (hashing encoder, mlp hidden 32, F16 table, 11 models) on the ≈500-char
 *   query set. routecore `scoreSync` on the prompt text, i.e. encoding *and* forward pass, vs
 *   `ReferenceRouter.scoreSparse` given the rows pre-encoded by the native encoder, i.e. the forward
 *   pass only: the TypeScript side is spared the encoding, so the ratio understates routecore.
 *   A second hashing ratio gives the TypeScript side the same work through native `encode()` plus
 *   the TS forward pass.
 * Ratios are TS time / routecore time (≥ 10 meets P5), median of per-round ratios.
 * @module
 */
import { readFileSync } from 'node:fs';

import { ReferenceRouter } from '../src/research.js';
import { binding } from '../src/addon/native.js';
import { met, pairedRatio, raceRounds, sink, type Competitor, type Figure, type SetupInfo, type Suite } from './common.js';
import { DENSE_DIM, denseQueries, denseRouter } from './dense.js';

const SIZES = [1, 256];

function pack(prompts: readonly string[]): { text: Buffer; offsets: Uint32Array } {
  const parts = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
  return { text: Buffer.concat(parts), offsets };
}

export const p5: Suite = {
  id: 'P5',
  title: 'same predictor in plain TypeScript vs routecore, same process, 1 thread',
  async run(setup: SetupInfo) {
    const rounds = setup.quick ? 3 : 9;
    const roundMs = setup.quick ? 15 : 300;
    const dense = await denseRouter(setup);
    const denseRaw = binding().NativeRouter.load(dense.bytes, dense.path, 'cpu', 1);
    const denseRef = ReferenceRouter.fromBytes(dense.bytes);
    const hashBytes = readFileSync(setup.routerPath);
    const hashRaw = binding().NativeRouter.load(hashBytes, setup.routerPath, 'cpu', 1);
    const hashRef = ReferenceRouter.fromBytes(hashBytes);
    const m = denseRaw.outputs;
    const mh = hashRaw.outputs;
    const queries = denseQueries(256 * 8);
    const prompts = setup.p1Prompts;

    const results: Record<string, Record<number, Awaited<ReturnType<typeof raceRounds>>>> = { dense: {}, hashing: {} };
    let worstDense = 0;
    let worstHashing = 0;
    for (const n of SIZES) {
      const slices = Array.from({ length: 8 }, (_, j) => queries.slice(j * n * DENSE_DIM, (j + 1) * n * DENSE_DIM));
      const out = new Float32Array(n * m);
      const refOut = new Float32Array(n * m);
      for (const s of slices) {
        denseRaw.scoreEmbeddingsSync(s, n, DENSE_DIM, out);
        denseRef.scoreDense(s, n, refOut);
        for (let i = 0; i < out.length; i++) worstDense = Math.max(worstDense, Math.abs(out[i]! - refOut[i]!));
      }
      let a = 0;
      let b = 0;
      results.dense![n] = await raceRounds(
        {
          routecore: { run: () => { denseRaw.scoreEmbeddingsSync(slices[a++ & 7]!, n, DENSE_DIM, out); sink.n += out[0]!; } },
          typescript: { run: () => { denseRef.scoreDense(slices[b++ & 7]!, n, refOut); sink.n += refOut[0]!; } },
        },
        rounds,
        roundMs,
      );

      // Hashing: consecutive batches of the query set, pre-packed and pre-encoded.
      const count = Math.max(8, Math.min(64, Math.floor(prompts.length / n)));
      const batches = Array.from({ length: count }, (_, j) => pack(Array.from({ length: n }, (_, i) => prompts[(j * n + i) % prompts.length]!)));
      const encoded = batches.map((p) => hashRaw.encode(p.text, p.offsets, n));
      const hOut = new Float32Array(n * mh);
      const hRef = new Float32Array(n * mh);
      for (let j = 0; j < count; j++) {
        hashRaw.scoreSync(batches[j]!.text, batches[j]!.offsets, n, hOut);
        hashRef.scoreSparse(encoded[j]!, hRef);
        for (let i = 0; i < hOut.length; i++) worstHashing = Math.max(worstHashing, Math.abs(hOut[i]! - hRef[i]!));
      }
      let c = 0;
      let d = 0;
      let e = 0;
      const competitors: Record<string, Competitor> = {
        routecore: {
          run: () => {
            const p = batches[c++ % count]!;
            hashRaw.scoreSync(p.text, p.offsets, n, hOut);
            sink.n += hOut[0]!;
          },
        },
        'typescript (pre-encoded rows)': { run: () => { hashRef.scoreSparse(encoded[d++ % count]!, hRef); sink.n += hRef[0]!; } },
        'native encode + typescript': {
          run: () => {
            const p = batches[e++ % count]!;
            hashRef.scoreSparse(hashRaw.encode(p.text, p.offsets, n), hRef);
            sink.n += hRef[0]!;
          },
        },
      };
      results.hashing![n] = await raceRounds(competitors, rounds, roundMs);
    }

    const figures: Figure[] = [];
    for (const n of SIZES) {
      const r = results.dense![n]!;
      figures.push(
        { key: `dense.routecore.${n}`, label: `dense 384-d, batch ${n}: routecore`, value: r.routecore!.median, unit: 'µs/call' },
        { key: `dense.ts.${n}`, label: `dense 384-d, batch ${n}: TypeScript`, value: r.typescript!.median, unit: 'µs/call' },
        met({ key: `dense.speedup.${n}`, label: `dense 384-d, batch ${n}: TS / routecore time`, value: pairedRatio(r.typescript!.perRound, r.routecore!.perRound), unit: 'ratio', target: { id: 'P5', op: '>=', value: 10 }, note: 'median of per-round ratios' }),
      );
    }
    for (const n of SIZES) {
      const r = results.hashing![n]!;
      const ts = r['typescript (pre-encoded rows)']!;
      const both = r['native encode + typescript']!;
      figures.push(
        { key: `hashing.routecore.${n}`, label: `hashing, batch ${n}: routecore scoreSync (encode + forward)`, value: r.routecore!.median, unit: 'µs/call' },
        { key: `hashing.ts.${n}`, label: `hashing, batch ${n}: TypeScript forward on pre-encoded rows`, value: ts.median, unit: 'µs/call' },
        met({
          key: `hashing.speedup.${n}`,
          label: `hashing, batch ${n}: TS (pre-encoded) / routecore time`,
          value: pairedRatio(ts.perRound, r.routecore!.perRound),
          unit: 'ratio',
          target: { id: 'P5', op: '>=', value: 10 },
          note: 'TS side skips encoding; routecore does it',
        }),
        { key: `hashing.equalWork.${n}`, label: `hashing, batch ${n}: (native encode + TS) / routecore time`, value: pairedRatio(both.perRound, r.routecore!.perRound), unit: 'ratio', note: 'same work on both sides' },
      );
    }
    const buckets = hashRaw.inputDim;
    denseRaw.dispose();
    hashRaw.dispose();
    return {
      id: 'P5',
      title: p5.title,
      figures,
      details: {
        sizes: SIZES,
        rounds,
        roundMs,
        threads: 1,
        maxAbsScoreDiff: { dense: worstDense, hashing: worstHashing },
        dense: { path: dense.path, dim: DENSE_DIM, models: m },
        hashing: { path: setup.routerPath, buckets, models: mh, tableHalf: hashRef.net.tableHalf },
        usPerCall: results,
      },
    };
  },
};
