/**
 * P8 and memory: the embedded default router's file size and load time, and the resident memory
 * of each predictor after loading.
 *
 * - File: bytes of `models/default.router` (target ≤ 8 MB, taken as 8,000,000 bytes).
 * - Load, fresh process: a new Node process per sample (this module run with `--probe`) times the
 *   addon's first load (`binding()`, the dlopen) and then `Router.loadSync('default')`; the target
 *   applies to their sum, the start-up cost a service pays. Median of 20 processes.
 * - Load, warm: 20 `Router.loadSync('default')` in this process (addon loaded, file cached),
 *   each disposed before the next; the median.
 * - Memory: per predictor, a fresh process loads the router, routes one input, and reports RSS
 *   before loading, after, and the process's peak RSS (getrusage maxrss); the router's own cost is
 *   RSS after minus before. Median of 3 processes.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { Router, defaultRouterPath, train } from '../src/index.js';
import { binding } from '../src/addon/native.js';
import { median, met, settle, sink, type Figure, type SetupInfo, type Suite } from './common.js';
import { syntheticCorpus } from './corpus.js';
import { denseRouter } from './dense.js';

interface Probe {
  addonMs: number;
  loadMs: number;
  rssBefore: number;
  rssAfterLoad: number;
  rssAfterRoute: number;
  peakRss: number;
  predictor: string;
  encoder: string;
}

const MiB = 2 ** 20;

/**
 * This process's peak RSS in bytes: VmHWM from /proc (Linux). getrusage's maxrss is not used: Linux
 * carries it across exec, so a child would report its parent's peak.
 */
function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** The child side: load one router in a fresh process and report times and memory as JSON. */
async function probe(path: string): Promise<void> {
  const t0 = performance.now();
  binding();
  const t1 = performance.now();
  const rssBefore = process.memoryUsage.rss();
  const router = Router.loadSync(path, { backend: 'cpu', threads: 2 });
  const t2 = performance.now();
  const rssAfterLoad = process.memoryUsage.rss();
  if (router.encoder === 'hashing') sink.n += router.routeSync('How many prime numbers are there between 10 and 50? Explain step by step.').fallbacks.length;
  else sink.n += router.routeEmbeddingSync(new Float32Array(router.inputDim).fill(1 / Math.sqrt(router.inputDim))).fallbacks.length;
  const out: Probe = {
    addonMs: t1 - t0,
    loadMs: t2 - t1,
    rssBefore,
    rssAfterLoad,
    rssAfterRoute: process.memoryUsage.rss(),
    peakRss: peakRss(),
    predictor: router.predictor,
    encoder: router.encoder,
  };
  router.dispose();
  process.stdout.write(JSON.stringify(out) + '\n');
}

function spawnProbe(path: string): Probe {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--probe', path], { encoding: 'utf8', env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  if (r.status !== 0) throw new Error(`probe of ${path} failed (exit ${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Probe;
}

export const p8: Suite = {
  id: 'P8',
  title: 'embedded default router: file size, load time; memory per predictor',
  async run(setup: SetupInfo) {
    const def = defaultRouterPath();
    const fileBytes = statSync(def).size;
    const fresh = setup.quick ? 3 : 20;
    const probes: Probe[] = [];
    for (let i = 0; i < fresh; i++) probes.push(spawnProbe(def));

    // Warm loads in this process.
    Router.loadSync('default', { backend: 'cpu', threads: setup.threads }).dispose();
    settle();
    const warm: number[] = [];
    for (let i = 0; i < fresh; i++) {
      const t0 = performance.now();
      const r = Router.loadSync('default', { backend: 'cpu', threads: setup.threads });
      warm.push(performance.now() - t0);
      r.dispose();
    }

    // One router per predictor kind; a linear hashing router is trained here (quickly: only its
    // size matters), saved in half precision like the others.
    const dir = dirname(setup.routerPath);
    const linearPath = join(dir, 'linear-hashing.router');
    const corpus = syntheticCorpus(setup.quick ? 300 : 2000, 0, 3);
    const lin = await train(corpus.trainData, { predictor: 'linear', maxEpochs: setup.quick ? 1 : 3, seed: 1, backend: 'cpu', threads: setup.threads });
    await lin.router.save(linearPath, { halfPrecision: true });
    lin.router.dispose();
    const dense = await denseRouter(setup);
    const kinds: Record<string, string> = {
      'default (hashing mlp, F16, 2 models)': def,
      'bench (hashing mlp, F16, 11 models)': setup.routerPath,
      'hashing linear (F16, 11 models)': linearPath,
      'precomputed mlp (384-d, F32, 11 models)': dense.path,
    };
    const memory: Record<string, { fileBytes: number; runs: Probe[]; routerRssMiB: number; peakRssMiB: number; baselineRssMiB: number }> = {};
    for (const [name, path] of Object.entries(kinds)) {
      const runs = Array.from({ length: setup.quick ? 1 : 3 }, () => spawnProbe(path));
      memory[name] = {
        fileBytes: statSync(path).size,
        runs,
        routerRssMiB: median(runs.map((p) => (p.rssAfterRoute - p.rssBefore) / MiB)),
        peakRssMiB: median(runs.map((p) => p.peakRss / MiB)),
        baselineRssMiB: median(runs.map((p) => p.rssBefore / MiB)),
      };
    }

    const freshTotal = median(probes.map((p) => p.addonMs + p.loadMs));
    const figures: Figure[] = [
      met({ key: 'default.fileMB', label: 'default router file', value: fileBytes / 1e6, unit: 'MB', target: { id: 'P8', op: '<=', value: 8 }, note: `${fileBytes} bytes` }),
      met({ key: 'default.loadFresh', label: 'fresh process: addon load + Router.loadSync(default)', value: freshTotal, unit: 'ms', target: { id: 'P8', op: '<=', value: 50 }, note: `median of ${fresh} processes` }),
      { key: 'default.addonLoad', label: 'fresh process: addon load (dlopen) alone', value: median(probes.map((p) => p.addonMs)), unit: 'ms' },
      { key: 'default.loadSyncFresh', label: 'fresh process: Router.loadSync(default) alone', value: median(probes.map((p) => p.loadMs)), unit: 'ms' },
      { key: 'default.loadWarm', label: 'warm: Router.loadSync(default), same process', value: median(warm), unit: 'ms', note: `median of ${fresh} loads` },
    ];
    let i = 0;
    for (const [name, m] of Object.entries(memory)) {
      figures.push(
        { key: `rss.${i}.router`, label: `${name}: RSS added by load + first route`, value: m.routerRssMiB, unit: 'MiB', note: `file ${(m.fileBytes / MiB).toFixed(2)} MiB` },
        { key: `rss.${i}.peak`, label: `${name}: process peak RSS`, value: m.peakRssMiB, unit: 'MiB', note: `Node + addon before load: ${m.baselineRssMiB.toFixed(1)} MiB` },
      );
      i++;
    }
    return {
      id: 'P8',
      title: p8.title,
      figures,
      details: { defaultRouter: def, fileBytes, freshProbes: probes, warmLoadMs: warm, memory, predictors: Object.keys(kinds) },
    };
  },
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--probe') {
  probe(process.argv[3]!).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
