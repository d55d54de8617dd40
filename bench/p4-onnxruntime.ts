/**
 * P4: the same trained mlp (dense 384-d input, hidden 32, 11 models) run by routecore and by
 * onnxruntime-node in this one process, at batch 1, 16, 64 and 256.
 *
 * Both sides do the same work: scores only, float32 weights, preallocated input.
 * - `routecore`: the internal binding's `scoreEmbeddingsSync(x, n, 384, out)` into a reused output
 *   (what `Router.routeEmbeddingSync` / `routeEmbeddings` call, without building decisions);
 * - `onnxruntime`: `await session.run({ features })` on the model `exportOnnx()` writes from the
 *   same `.router` file, the input tensor created once per batch size. onnxruntime-node's `run()`
 *   defers the (synchronous) inference to the next event-loop turn with setImmediate, so a third
 *   competitor times an empty `await setImmediate` hop: `ort − hop` is onnxruntime's own work.
 * - `Router.routeEmbeddingSync` (batch 1 only): the public call, decision included.
 * Threads: routecore's pool and onnxruntime's intra-op pool both have `setup.threads` (2); a batch
 * of ≤ 64 rows is one task on the calling thread in routecore.
 * Rounds interleave the competitors; the ratio is the median of per-round ratios.
 * @module
 */
import { Router } from '../src/index.js';
import { exportOnnx } from '../src/research.js';
import { binding } from '../src/addon/native.js';
import { loadOnnxRuntime } from './onnxruntime.js';
import { met, pairedRatio, raceRounds, sink, type Competitor, type Figure, type SetupInfo, type Suite } from './common.js';
import { DENSE_DIM, denseQueries, denseRouter } from './dense.js';

const SIZES = [1, 16, 64, 256];

export const p4: Suite = {
  id: 'P4',
  title: 'same mlp on dense 384-d input: routecore vs onnxruntime-node, same process',
  async run(setup: SetupInfo) {
    const ort = await loadOnnxRuntime('benchmark P4 (routecore vs onnxruntime-node)');
    const dense = await denseRouter(setup);
    const raw = binding().NativeRouter.load(dense.bytes, dense.path, 'cpu', setup.threads);
    const router = Router.loadSync(dense.bytes, { backend: 'cpu', threads: setup.threads });
    const m = raw.outputs;
    const t0 = performance.now();
    const onnx = exportOnnx(dense.bytes);
    const exportMs = performance.now() - t0;
    const session = await ort.InferenceSession.create(onnx, {
      intraOpNumThreads: setup.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const rounds = setup.quick ? 3 : 9;
    const roundMs = setup.quick ? 15 : 300;
    const queries = denseQueries(Math.max(...SIZES) * 8);

    // Same input on both sides, checked before timing.
    const check = new Float32Array(8 * m);
    raw.scoreEmbeddingsSync(queries.subarray(0, 8 * DENSE_DIM), 8, DENSE_DIM, check);
    const ortCheck = (await session.run({ features: new ort.Tensor('float32', queries.slice(0, 8 * DENSE_DIM), [8, DENSE_DIM]) })).scores!.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < check.length; i++) maxDiff = Math.max(maxDiff, Math.abs(check[i]! - ortCheck[i]!));

    const bySize: Record<number, Record<string, { median: number; perRound: number[]; callsPerRound: number }>> = {};
    for (const n of SIZES) {
      // A few distinct batches so no call re-reads the previous call's rows from L1.
      const slices = Array.from({ length: 8 }, (_, j) => queries.slice(j * n * DENSE_DIM, (j + 1) * n * DENSE_DIM));
      const tensors = slices.map((s) => new ort.Tensor('float32', s, [n, DENSE_DIM]));
      const out = new Float32Array(n * m);
      let i = 0;
      let k = 0;
      const competitors: Record<string, Competitor> = {
        routecore: {
          run: () => {
            raw.scoreEmbeddingsSync(slices[i++ & 7]!, n, DENSE_DIM, out);
            sink.n += out[0]!;
          },
        },
        onnxruntime: {
          async: true,
          run: async () => {
            const r = await session.run({ features: tensors[k++ & 7]! });
            sink.n += (r.scores!.data as Float32Array)[0]!;
          },
        },
        'setImmediate hop': { async: true, run: () => new Promise<void>((resolve) => setImmediate(resolve)) },
      };
      if (n === 1) {
        let j = 0;
        competitors['Router.routeEmbeddingSync'] = { run: () => (sink.n += router.routeEmbeddingSync(slices[j++ & 7]!).fallbacks.length) };
      }
      bySize[n] = await raceRounds(competitors, rounds, roundMs);
    }

    const figures: Figure[] = [];
    for (const n of SIZES) {
      const r = bySize[n]!;
      const rc = r.routecore!.perRound;
      const ortRounds = r.onnxruntime!.perRound;
      const ortOwn = ortRounds.map((x, j) => x - r['setImmediate hop']!.perRound[j]!);
      const target = n === 1 ? { id: 'P4', op: '<=' as const, value: 1 / 3 } : n === 256 ? { id: 'P4', op: '<=' as const, value: 1 } : undefined;
      figures.push(
        { key: `routecore.${n}`, label: `batch ${n}: routecore scoreEmbeddingsSync`, value: r.routecore!.median, unit: 'µs/call' },
        { key: `ort.${n}`, label: `batch ${n}: onnxruntime session.run`, value: r.onnxruntime!.median, unit: 'µs/call' },
        met({ key: `ratio.${n}`, label: `batch ${n}: routecore / onnxruntime time`, value: pairedRatio(rc, ortRounds), unit: 'ratio', ...(target ? { target } : {}), note: 'median of per-round ratios' }),
        { key: `ratioOwn.${n}`, label: `batch ${n}: routecore / (onnxruntime − setImmediate hop)`, value: pairedRatio(rc, ortOwn), unit: 'ratio', note: `hop ${r['setImmediate hop']!.median.toFixed(2)} µs` },
      );
      if (n === 1) figures.push({ key: 'routeEmbeddingSync.1', label: 'batch 1: Router.routeEmbeddingSync (with decision)', value: r['Router.routeEmbeddingSync']!.median, unit: 'µs/call' });
    }
    raw.dispose();
    router.dispose();
    await session.release();
    return {
      id: 'P4',
      title: p4.title,
      figures,
      details: {
        sizes: SIZES,
        rounds,
        roundMs,
        threads: setup.threads,
        onnxruntimeVersion: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown',
        onnxBytes: onnx.length,
        exportMs,
        maxAbsScoreDiff: maxDiff,
        router: { path: dense.path, dim: DENSE_DIM, hidden: 32, models: m, trainRows: dense.trainRows, table: 'F32' },
        usPerCall: bySize,
      },
    };
  },
};
