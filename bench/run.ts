/**
 * Benchmark entry: `node dist/bench/run.js [--quick] [--json FILE] [--only P1,P2] [--data DIR]
 * [--synthetic] [--setup DIR] [--keep] [--cpu-prof DIR] [--max-load X]`.
 *
 * The parent process prepares once (trains an mlp router on the RouterBench training files, saves
 * it to a temporary directory, builds the ≈500-character query set), then runs every suite in a
 * fresh child process (better-sqlite3's habit: no JIT, heap or thread-pool state carried from
 * training or from another suite), and reports. `--setup DIR` reuses a kept setup (no training);
 * `--worker ID` is the child mode.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { train } from '../src/index.js';
import { packageRoot } from '../src/addon/native.js';
import { load1, machine, settle, type SetupInfo, type SuiteResult } from './common.js';
import { lengths, loadRouterBench, p1PromptSet, syntheticCorpus } from './corpus.js';
import { printHeader, printSuite, printVerdict, summarize, writeJson, type Report } from './reporter.js';
import { SUITES } from './suites.js';

/** P2 asks for 2 CPU threads; P1's routeSync runs on the calling thread whatever this is. */
const THREADS = 2;
const SETUP_FILE = 'setup.json';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    only: { type: 'string' },
    data: { type: 'string' },
    synthetic: { type: 'boolean', default: false },
    setup: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'max-load': { type: 'string' },
    worker: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

interface SetupFile extends SetupInfo {
  report: Record<string, unknown>;
}

async function prepare(dir: string, quick: boolean): Promise<SetupFile> {
  const dataDir = resolve(args.data ?? join(packageRoot(), '..', 'shared', 'data'));
  const real = args.synthetic ? undefined : loadRouterBench(dataDir);
  if (!real) console.log(args.synthetic ? 'corpus: synthetic (--synthetic)' : `corpus: ${dataDir} has no routerbench-*_{train,test}.jsonl; using the synthetic corpus`);
  const corpus = real ?? syntheticCorpus();
  const maxEpochs = quick ? 1 : 8;
  console.log(`training mlp (hidden 32, log2Buckets 16, maxEpochs ${maxEpochs}) on ${corpus.trainRows} ${corpus.source} rows, ${corpus.models} models, ${THREADS} threads...`);
  const t0 = performance.now();
  const trained = await train(corpus.trainData, { predictor: 'mlp', hidden: 32, encoder: { log2Buckets: 16 }, maxEpochs, seed: 1, backend: 'cpu', threads: THREADS });
  const trainWallS = (performance.now() - t0) / 1000;
  const routerPath = join(dir, 'bench.router');
  // Saved in half precision, as the shipped default router is: the CPU backend then gathers
  // 64-byte rows (hidden 32) instead of 128-byte ones.
  await trained.router.save(routerPath, { halfPrecision: true });
  const info = { predictor: trained.router.predictor, encoder: trained.router.encoder, inputDim: trained.router.inputDim, models: trained.router.models.length };
  trained.router.dispose();
  const p1Prompts = p1PromptSet(corpus.testPrompts);
  const report = {
    corpus: {
      source: corpus.source,
      trainFiles: corpus.files.train,
      testFiles: corpus.files.test,
      trainRows: corpus.trainRows,
      models: corpus.models,
      testPromptChars: lengths(corpus.testPrompts),
      p1PromptChars: lengths(p1Prompts),
    },
    training: { seconds: trainWallS, trainReport: trained.report, options: { predictor: 'mlp', hidden: 32, log2Buckets: 16, maxEpochs, seed: 1, threads: THREADS } },
    router: { ...info, fileBytes: statSync(routerPath).size },
  };
  const setup: SetupFile = { routerPath, p1Prompts, quick, threads: THREADS, dataDir: args.synthetic ? null : dataDir, report };
  writeFileSync(join(dir, SETUP_FILE), JSON.stringify(setup));
  return setup;
}

function printSetup(report: Record<string, unknown>): void {
  const r = report as {
    corpus: { source: string; trainRows: number; models: number; testPromptChars: Record<string, number>; p1PromptChars: Record<string, number> };
    training: { seconds: number; trainReport: { epochs: number; bestEpoch: number; stoppedEarly: boolean } };
    router: { predictor: string; encoder: string; inputDim: number; models: number; fileBytes: number };
  };
  const d = (x: Record<string, number>): string => `n=${x.n} min ${x.min} p10 ${x.p10} p50 ${x.p50} p90 ${x.p90} max ${x.max}`;
  console.log(`setup: ${r.router.predictor} router, ${r.router.encoder} encoder (${r.router.inputDim} buckets), ${r.router.models} models, file ${(r.router.fileBytes / 2 ** 20).toFixed(2)} MiB`);
  console.log(`  training: ${r.training.seconds.toFixed(2)} s wall (train() incl. reading files), ${r.training.trainReport.epochs} epochs, best ${r.training.trainReport.bestEpoch}${r.training.trainReport.stoppedEarly ? ', stopped early' : ''}; ${r.corpus.trainRows} ${r.corpus.source} rows`);
  console.log(`  test prompt chars: ${d(r.corpus.testPromptChars)}`);
  console.log(`  P1/P2 query set chars: ${d(r.corpus.p1PromptChars)}`);
}

async function worker(id: string, setupDir: string, outFile: string): Promise<void> {
  const suite = SUITES.find((s) => s.id === id);
  if (!suite) throw new Error(`no suite ${id}`);
  const setup = JSON.parse(readFileSync(join(setupDir, SETUP_FILE), 'utf8')) as SetupFile;
  settle();
  const before = load1();
  const t0 = performance.now();
  const r = await suite.run(setup);
  const result: SuiteResult = { ...r, load: { before, after: load1() }, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(outFile, JSON.stringify(result));
}

/** A shared machine: wait for the 1-minute load average to fall to `max` (poll 30 s, give up after 15 min). */
async function waitForLoad(max: number): Promise<void> {
  const deadline = Date.now() + 15 * 60_000;
  while (load1() > max) {
    if (Date.now() >= deadline) {
      console.log(`load average still ${load1()} > ${max} after 15 min; running anyway (the suite records it)`);
      return;
    }
    console.log(`load average ${load1()} > ${max}; waiting 30 s`);
    await new Promise((r) => setTimeout(r, 30_000));
  }
}

async function main(): Promise<void> {
  if (args.help) {
    console.log('usage: node dist/bench/run.js [--quick] [--json FILE] [--only P1,P2] [--data DIR] [--synthetic] [--setup DIR] [--keep] [--cpu-prof DIR] [--max-load X]');
    console.log('  --max-load X  before each suite, wait (polling every 30 s, at most 15 min) until the 1-minute load average is <= X');
    return;
  }
  if (args.worker) {
    if (!args.setup || !args.out) throw new Error('--worker needs --setup DIR and --out FILE');
    return worker(args.worker, args.setup, args.out);
  }
  const wanted = args.only ? args.only.split(',').map((s) => s.trim().toUpperCase()) : SUITES.map((s) => s.id);
  for (const w of wanted) if (!SUITES.some((s) => s.id === w)) throw new Error(`--only: no suite ${w} (have ${SUITES.map((s) => s.id).join(', ')})`);

  const m = machine();
  printHeader(m);
  const reuse = args.setup !== undefined;
  const dir = reuse ? resolve(args.setup!) : mkdtempSync(join(tmpdir(), 'routecore-bench-'));
  let setup: SetupFile;
  if (reuse && existsSync(join(dir, SETUP_FILE))) {
    setup = JSON.parse(readFileSync(join(dir, SETUP_FILE), 'utf8')) as SetupFile;
    if (setup.quick !== args.quick) {
      setup.quick = args.quick;
      writeFileSync(join(dir, SETUP_FILE), JSON.stringify(setup));
    }
    console.log(`setup: reusing ${dir}`);
  } else {
    if (reuse) mkdirSync(dir, { recursive: true });
    setup = await prepare(dir, args.quick);
  }
  printSetup(setup.report);

  const script = fileURLToPath(import.meta.url);
  const suites: Record<string, SuiteResult> = {};
  let failed = false;
  const maxLoad = args['max-load'] === undefined ? undefined : Number(args['max-load']);
  if (maxLoad !== undefined && !(maxLoad > 0)) throw new Error(`--max-load expects a positive number, got ${args['max-load']}`);
  for (const id of wanted) {
    if (maxLoad !== undefined) await waitForLoad(maxLoad);
    const out = join(dir, `${id}.result.json`);
    rmSync(out, { force: true });
    const nodeArgs = ['--expose-gc'];
    if (args['cpu-prof']) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`, `--cpu-prof-name=${id}.cpuprofile`);
    const child = spawnSync(process.execPath, [...nodeArgs, script, '--worker', id, '--setup', dir, '--out', out], {
      stdio: 'inherit',
      env: { ...process.env, ROUTECORE_THREADS: String(THREADS), ROUTECORE_BACKEND: 'cpu' },
    });
    if (child.status !== 0 || !existsSync(out)) {
      console.error(`suite ${id} failed (exit ${child.status ?? child.signal})`);
      failed = true;
      continue;
    }
    suites[id] = JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
    printSuite(suites[id]!);
  }
  printVerdict(suites);
  if (args.json) {
    const report: Report = { schema: 1, startedAt: new Date().toISOString(), command: process.argv.slice(1), machine: m, setup: setup.report, suites, summary: summarize(suites) };
    writeJson(resolve(args.json), report);
    console.log(`\nwrote ${resolve(args.json)}`);
  }
  if (args.keep || reuse) console.log(`setup kept in ${dir} (reuse with --setup ${dir})`);
  else rmSync(dir, { recursive: true, force: true });
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
