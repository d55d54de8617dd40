/**
 * P11: `routeSync` latency of one ≈500-character prompt with each text encoder — hashing, static
 * (a model2vec-layout model) and mixed — in one run, each an mlp (hidden 32) trained on the same
 * RouterBench rows, timed in interleaved blocks in this one process (drift hits all alike).
 *
 *   npm run build:ts && node dist/scripts/build-static-use.js /tmp/use-static
 *   node dist/bench/encoders.js --model /tmp/use-static [--data ../shared/data] [--quick] [--json FILE]
 *
 * Also times the static encoder alone (StaticModel.embed of one prompt, N-API included) and the
 * native scoring call of each router on pre-packed UTF-8, so the encoder's share is visible.
 * The load average is printed before and after: the machine is shared.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { type Router, train } from '../src/index.js';
import { binding, packageRoot } from '../src/addon/native.js';
import { StaticModel } from '../src/encoders/static.js';
import { distribution, interleavedLatency, load1, machine, sink, type IndexedCall } from './common.js';
import { lengths, loadRouterBench, p1PromptSet } from './corpus.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
  strict: true,
});

async function main(): Promise<void> {
  if (!args.model) throw new Error('--model DIR (a model2vec-layout directory, e.g. from scripts/build-static-use.ts) is required');
  const dataDir = resolve(args.data ?? join(packageRoot(), '..', 'shared', 'data'));
  const corpus = loadRouterBench(dataDir);
  if (!corpus) throw new Error(`${dataDir} has no routerbench train/test files`);
  const model = StaticModel.loadSync(args.model);
  const prompts = p1PromptSet(corpus.testPrompts);
  const loadBefore = load1();
  const threads = 2;
  const routers: Record<string, Router> = {};
  const base = { predictor: 'mlp' as const, hidden: 32, maxEpochs: args.quick ? 1 : 8, seed: 1, backend: 'cpu' as const, threads };
  routers.hashing = (await train(corpus.trainData, { ...base, encoder: { log2Buckets: 16 } })).router;
  routers.static = (await train(corpus.trainData, { ...base, encoder: { kind: 'static', model } })).router;
  routers.mixed = (await train(corpus.trainData, { ...base, encoder: { kind: 'mixed', model, log2Buckets: 16 } })).router;

  const packed = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = packed.map((b) => Uint32Array.of(0, b.length));
  const competitors: Record<string, IndexedCall> = {};
  const raws: Record<string, ReturnType<ReturnType<typeof binding>['NativeRouter']['load']>> = {};
  for (const [name, r] of Object.entries(routers)) {
    competitors[`routeSync ${name}`] = (i) => {
      sink.n += r.routeSync(prompts[i]!).fallbacks.length;
    };
  }
  // The native scoring call alone (pre-packed UTF-8), through a saved-and-reloaded copy.
  for (const [name, r] of Object.entries(routers)) {
    const file = join(packageRoot(), 'build', `bench-encoders-${name}.router`);
    await r.save(file);
    raws[name] = binding().NativeRouter.load(readFileSync(file), file, 'cpu', threads);
    const out = new Float32Array(r.models.length);
    const raw = raws[name]!;
    competitors[`native scoreSync ${name}`] = (i) => {
      raw.scoreSync(packed[i]!, offsets[i]!, 1, out);
      sink.n += out[0]!;
    };
  }
  const emb = new Float32Array(model.dim);
  competitors['static embed (N-API)'] = (i) => {
    model.handle.embed(packed[i]!, offsets[i]!, 1, emb);
    sink.n += emb[0]!;
  };
  const calls = args.quick ? 500 : 20_000;
  const samples = interleavedLatency(competitors, calls, args.quick ? 100 : 3_000, args.quick ? 100 : 1_000, prompts.length);
  // CPU time per call, each competitor alone in a loop of the same calls: on a machine shared
  // with other jobs the wall-clock percentiles above include waiting for a core; this does not.
  const cpuPerCall: Record<string, number> = {};
  for (const [name, f] of Object.entries(competitors)) {
    const before = process.cpuUsage();
    for (let i = 0; i < calls; i++) f(i % prompts.length);
    const used = process.cpuUsage(before);
    cpuPerCall[name] = (used.user + used.system) / calls;
  }
  const loadAfter = load1();
  const len = lengths(prompts);
  const result: Record<string, unknown> = {
    machine: machine(),
    load1: { before: loadBefore, after: loadAfter },
    prompts: { count: prompts.length, chars: len },
    staticModel: { dir: model.dir, rows: model.rows, dim: model.dim },
    figures: {} as Record<string, unknown>,
  };
  console.log(`P11 encoders: ${prompts.length} prompts of ${len.p50.toFixed(0)} chars (p50), ${calls} calls each, load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  console.log(`static model ${model.dir}: ${model.rows} x ${model.dim}`);
  console.log('| call | p50 µs | p90 µs | p99 µs | CPU µs per call (mean, run alone) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [name, s] of Object.entries(samples)) {
    const d = distribution(s);
    (result.figures as Record<string, unknown>)[name] = { ...d, cpuMeanUs: cpuPerCall[name] };
    console.log(`| ${name} | ${d.p50.toFixed(2)} | ${d.p90.toFixed(2)} | ${d.p99.toFixed(2)} | ${cpuPerCall[name]!.toFixed(2)} |`);
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));
  for (const r of Object.values(routers)) r.dispose();
  for (const r of Object.values(raws)) r.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
