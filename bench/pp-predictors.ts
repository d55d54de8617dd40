/**
 * PP: P1 and P2 for every predictor: `routeSync` latency (p50/p90/p99) and `routeBatch` throughput
 * over batch sizes 1…4096, on the same ≈500-character query set, CPU, the setup's thread count.
 *
 * The mlp is the setup's router (P1/P2's); linear, mf, knn and kmeans are trained here on the same
 * training data with `train()`'s defaults for each (seed 1; at most 8 epochs like the setup's mlp)
 * and stored F16, as the mlp is. The predictors are the competitors: latency in interleaved blocks,
 * throughput in interleaved rounds, so the machine's drift hits them alike. docs/ARCHITECTURE.md's P1 and P2
 * targets are about the hashing mlp (checked in P1/P2); here the figures are for comparison.
 * @module
 */
import { Router, train, type OutcomeRecord, type PredictorKind } from '../src/index.js';
import { distribution, interleavedLatency, median, raceBatches, sink, type BatchCall, type Figure, type IndexedCall, type SetupInfo, type Suite } from './common.js';
import { loadRouterBench, syntheticCorpus } from './corpus.js';

const OTHERS: PredictorKind[] = ['linear', 'mf', 'knn', 'kmeans'];

export const pp: Suite = {
  id: 'PP',
  title: 'P1 and P2 for every predictor: routeSync latency, routeBatch throughput, CPU',
  async run(setup: SetupInfo) {
    const prompts = setup.p1Prompts;
    const corpus = (!setup.quick && setup.dataDir ? loadRouterBench(setup.dataDir) : undefined) ?? syntheticCorpus(setup.quick ? 300 : 2400, 0);
    const routers: Record<string, Router> = { mlp: Router.loadSync(setup.routerPath, { backend: 'cpu', threads: setup.threads }) };
    const trainSeconds: Record<string, number> = {};
    for (const predictor of OTHERS) {
      const t0 = performance.now();
      const { router } = await train(corpus.trainData as string[] | OutcomeRecord[], {
        predictor,
        seed: 1,
        maxEpochs: setup.quick ? 1 : 8,
        backend: 'cpu',
        threads: setup.threads,
      });
      trainSeconds[predictor] = (performance.now() - t0) / 1000;
      // Reloaded from F16 bytes, as the setup's mlp was saved: the same table precision everywhere.
      routers[predictor] = Router.loadSync(router.serialize({ halfPrecision: true }), { backend: 'cpu', threads: setup.threads });
      router.dispose();
    }
    const names = Object.keys(routers);

    // P1 for each predictor.
    const latencyCalls: Record<string, IndexedCall> = {};
    for (const name of names) {
      const r = routers[name]!;
      latencyCalls[name] = (i) => {
        sink.n += r.routeSync(prompts[i]!).fallbacks.length;
      };
    }
    const calls = setup.quick ? 100 : 5_000;
    const samples = interleavedLatency(latencyCalls, calls, setup.quick ? 20 : 500, setup.quick ? 50 : 500, prompts.length);
    const latency = Object.fromEntries(names.map((n) => [n, distribution(samples[n]!)]));

    // P2 for each predictor: consecutive calls take consecutive slices of the query set.
    const sizes = setup.quick ? [1, 64] : [1, 16, 256, 1024, 4096];
    const rounds = setup.quick ? 2 : 5;
    const roundMs = setup.quick ? 10 : 200;
    const throughput: Record<string, Record<string, { median: number; perRound: number[] }>> = {};
    for (const size of sizes) {
      const count = Math.max(1, Math.ceil(prompts.length / size));
      const batches = Array.from({ length: count }, (_, j) => Array.from({ length: size }, (_, i) => prompts[(j * size + i) % prompts.length]!));
      const competitors: Record<string, BatchCall> = {};
      for (const name of names) competitors[name] = (b) => routers[name]!.routeBatch(b);
      const res = await raceBatches(competitors, batches, rounds, roundMs);
      throughput[size] = Object.fromEntries(names.map((n) => [n, { median: median(res[n]!.perRound), perRound: res[n]!.perRound }]));
    }

    const figures: Figure[] = [];
    for (const name of names) {
      const d = latency[name]!;
      figures.push(
        { key: `${name}.p50`, label: `${name}: routeSync p50`, value: d.p50, unit: 'µs' },
        { key: `${name}.p90`, label: `${name}: routeSync p90`, value: d.p90, unit: 'µs' },
        { key: `${name}.p99`, label: `${name}: routeSync p99`, value: d.p99, unit: 'µs' },
      );
    }
    for (const size of sizes) {
      for (const name of names) {
        figures.push({ key: `${name}.batch.${size}`, label: `${name}: routeBatch ${size}`, value: throughput[size]![name]!.median, unit: 'prompts/s' });
      }
    }
    for (const r of Object.values(routers)) r.dispose();
    return {
      id: 'PP',
      title: pp.title,
      figures,
      details: {
        corpus: { source: corpus.source, trainRows: corpus.trainRows, models: corpus.models },
        trainSeconds,
        latency,
        throughput,
        calls,
        rounds,
        roundMs,
        threads: setup.threads,
      },
    };
  },
};
