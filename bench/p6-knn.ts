/**
 * P6: the knn predictor over 100,000 reference prompts, batches of 1,024, on the CPU backend and,
 * where a GPU is present, on CUDA.
 *
 * References: the seeded synthetic corpus (≈500-character prompts, 11 models), 100,000 training
 * rows; queries: 1,024-prompt batches from the same generator's test rows. The router is the
 * hashing encoder + a 128-wide sparse sign projection + k = 20 nearest references (train()'s
 * defaults), so a batch costs encoding, projection, a 1,024 x 100,000 x 128 similarity product and a top-20 per
 * prompt. Timed: `router.scores(batch)` (no decision objects), CPU and CUDA rounds interleaved.
 * Figures: medians over rounds; the CUDA/CPU ratio only when both ran in this process. Without a GPU the CUDA row says so; it is never
 * estimated.
 * @module
 */
import { Router, backendInfo, train, type OutcomeRecord } from '../src/index.js';
import { median, met, settle, sink, type Figure, type SetupInfo, type Suite } from './common.js';
import { syntheticCorpus } from './corpus.js';

const REFERENCES = 100_000;
const BATCH = 1024;

/** Milliseconds per batch for each router, rounds interleaved (CPU, CUDA, CPU, ...) after a warm-up call each. */
async function raceBatches(routers: Router[], batches: string[][], rounds: number): Promise<number[][]> {
  for (const router of routers) await router.scores(batches[0]!); // thread pool, scratch buffers, device uploads
  const ms: number[][] = routers.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, router] of routers.entries()) {
      const t0 = process.hrtime.bigint();
      const s = await router.scores(batches[r % batches.length]!);
      ms[i]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
      sink.n += s[0]!;
    }
  }
  return ms;
}

export const p6: Suite = {
  id: 'P6',
  title: 'knn over 100k reference prompts, batch 1024, CUDA vs CPU',
  async run(setup: SetupInfo) {
    const refs = setup.quick ? 2000 : REFERENCES;
    const batch = setup.quick ? 64 : BATCH;
    const rounds = setup.quick ? 2 : 7;
    const corpus = syntheticCorpus(refs, batch * 3, 11);
    const queries = corpus.testPrompts;
    const batches = [0, 1, 2].map((i) => queries.slice(i * batch, (i + 1) * batch));
    const t0 = performance.now();
    const { router } = await train(corpus.trainData as OutcomeRecord[], { predictor: 'knn', backend: 'cpu', threads: setup.threads });
    const trainS = (performance.now() - t0) / 1000;
    const bytes = router.serialize({ halfPrecision: true });
    router.dispose();
    settle();

    const info = backendInfo({ backend: 'auto', threads: 1 });
    const gpu = info.cuda.usable ? info.cuda.detail : `no usable GPU (${info.cuda.detail})`;
    const routers = [Router.loadSync(bytes, { backend: 'cpu', threads: setup.threads })];
    if (info.cuda.usable) routers.push(Router.loadSync(bytes, { backend: 'cuda', threads: setup.threads }));
    const [cpuMs, cudaMs] = await raceBatches(routers, batches, rounds) as [number[], number[] | undefined];
    for (const r of routers) r.dispose();
    const cpuMedian = median(cpuMs);
    const figures: Figure[] = [
      { key: 'cpuBatchMs', label: `CPU: one batch of ${batch} over ${refs} references (${setup.threads} threads)`, value: cpuMedian, unit: 'ms' },
      { key: 'cpuPromptsPerSecond', label: 'CPU throughput', value: (batch / cpuMedian) * 1000, unit: 'prompts/s' },
    ];
    if (cudaMs) {
      const cudaMedian = median(cudaMs);
      figures.push({ key: 'cudaBatchMs', label: `CUDA: one batch of ${batch}`, value: cudaMedian, unit: 'ms' });
      figures.push(met({ key: 'cudaSpeedup', label: 'knn CUDA / CPU throughput', value: cpuMedian / cudaMedian, unit: 'ratio', target: { id: 'P6', op: '>=', value: 20 } }));
    } else {
      figures.push({ key: 'cudaSpeedup', label: 'knn CUDA / CPU throughput', value: NaN, unit: 'ratio', note: `not measured: ${gpu}` });
    }
    return {
      id: 'P6',
      title: p6.title,
      figures,
      details: { references: refs, batch, rounds, k: 20, projection: 128, trainSeconds: trainS, artifactBytes: bytes.length, cpuMs, cudaMs: cudaMs ?? null, gpu },
    };
  },
};
