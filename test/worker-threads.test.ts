/**
 * The addon in several JavaScript environments at once (worker_threads), and process lifetime:
 * the addon's own worker thread must never keep an idle event loop (process or Worker) alive.
 *
 * The worker script (test/fixtures/worker-router.mjs) and the `node -e` scripts import the BUILT
 * library in dist/; these tests skip with a message when `npx tsc -p .` has not been run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST_INDEX = join(ROOT, 'dist', 'src', 'index.js');
const WORKER_SCRIPT = new URL('./fixtures/worker-router.mjs', import.meta.url);
const HAS_DIST = existsSync(DIST_INDEX);
const SKIP_MESSAGE = `dist/ is missing (${DIST_INDEX}): run \`npx tsc -p .\` to build it; these tests load the built library in Workers and child processes`;
/** Generous: a healthy run takes well under a second. Only a hang gets near it. */
// Generous: the timer covers the Worker's whole run (training included) on a loaded 2-core machine;
// what it catches is a Worker that never exits, not a slow one.
const EXIT_TIMEOUT_MS = 120_000;

const OPTIONS = { hidden: 8, encoder: { log2Buckets: 12 }, maxEpochs: 5, seed: 11 } as const;

function makeRecords(): OutcomeRecord[] {
  const out: OutcomeRecord[] = [];
  for (let i = 0; i < 60; i++) {
    out.push({ id: `calc-${i}`, prompt: `Add ${i} and ${i * 7 + 2}, then multiply the sum by ${i % 9 + 2}.`, scores: { calc: 1, chat: 0 } });
    out.push({ id: `chat-${i}`, prompt: `Write a friendly greeting for ${['Ann', 'Raj', 'Li', 'Sam'][i % 4]} on day ${i}.`, scores: { calc: 0, chat: 1 } });
  }
  return out;
}

const records = makeRecords();
const prompts = Array.from({ length: 24 }, (_, i) => (i % 2 ? `Add ${i} and ${i + 40}, then multiply the sum by 3.` : `Write a friendly greeting for Mo on day ${i + 100}.`));

let router: Router;
let bytes: Buffer;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'routecore-workers-'));
  ({ router } = await train(records, OPTIONS));
  bytes = router.serialize();
});

afterAll(() => {
  router?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function requireDist(ctx: TestContext): void {
  if (!HAS_DIST) ctx.skip(SKIP_MESSAGE);
}

interface WorkerReport {
  threadId: number;
  mode: string;
  backend: string;
  sync: Record<string, number>[];
  routed: Record<string, number>[];
  batched: Record<string, number>[];
  models: string[];
  stats: { routed: number; batches: number };
  disposedCode: string | null;
}

/**
 * Runs the fixture in a Worker and resolves when the Worker exits BY ITSELF. If it has not exited
 * EXIT_TIMEOUT_MS after starting, it is terminated and the promise rejects: something kept its
 * event loop alive.
 */
function runWorker(workerData: Record<string, unknown>): Promise<{ exitCode: number; messages: WorkerReport[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SCRIPT, { workerData });
    const messages: WorkerReport[] = [];
    let failed: unknown;
    const timer = setTimeout(() => {
      failed = new Error(`worker (${String(workerData['mode'])}) did not exit within ${EXIT_TIMEOUT_MS} ms: its event loop was kept alive`);
      void worker.terminate();
    }, EXIT_TIMEOUT_MS);
    worker.on('message', (m: WorkerReport) => messages.push(m));
    worker.on('error', (err) => {
      failed ??= err;
    });
    worker.on('exit', (exitCode) => {
      clearTimeout(timer);
      if (failed) reject(failed);
      else resolve({ exitCode, messages });
    });
  });
}

describe('worker_threads', () => {
  it('two Workers (one training, one loading) and the main thread route at the same time, then the Workers exit by themselves', async (ctx) => {
    requireDist(ctx);
    const expected = prompts.map((p) => router.routeSync(p).scores);
    const trainer = runWorker({ mode: 'train', records, options: OPTIONS, prompts });
    const loader = runWorker({ mode: 'load', bytes, prompts });
    // Meanwhile, the main thread keeps the addon busy on its own router.
    const main = await Router.load(bytes);
    const many = Array.from({ length: 600 }, (_, i) => prompts[i % prompts.length]!);
    const [mainBatch, mainRouted, a, b] = await Promise.all([
      main.routeBatch(many),
      Promise.all(many.map((p) => main.route(p))),
      trainer,
      loader,
    ]);
    main.dispose();

    for (const { exitCode, messages } of [a, b]) {
      expect(exitCode).toBe(0);
      expect(messages).toHaveLength(1);
    }
    const fromTrainer = a.messages[0]!;
    const fromLoader = b.messages[0]!;
    expect(fromTrainer.threadId).not.toBe(fromLoader.threadId);
    for (const r of [fromTrainer, fromLoader]) {
      expect(r.backend).toBe(router.backend);
      expect(r.sync).toHaveLength(prompts.length);
      expect(r.routed).toEqual(r.sync);
      expect(r.batched).toEqual(r.sync);
      expect(r.stats.routed).toBe(prompts.length);
      expect(r.stats.batches).toBeLessThan(prompts.length);
      expect(r.disposedCode).toBe('ERR_ROUTECORE_DISPOSED');
    }
    // The loaded router is the main thread's router: exactly the same scores.
    expect(fromLoader.sync).toEqual(expected);
    // Training is deterministic for a seed, in whichever thread it runs.
    fromTrainer.sync.forEach((s, i) => {
      for (const m of Object.keys(expected[i]!)) expect(s[m]!).toBeCloseTo(expected[i]![m]!, 6);
    });
    // The main thread's work was unaffected by the Workers.
    many.forEach((_, i) => {
      expect(mainBatch[i]!.scores).toEqual(expected[i % prompts.length]);
      expect(mainRouted[i]!.scores).toEqual(expected[i % prompts.length]);
    });
  }, 300_000);

  it('terminating a Worker in the middle of training leaves the process and other routers working', async (ctx) => {
    requireDist(ctx);
    const worker = new Worker(WORKER_SCRIPT, { workerData: { mode: 'train-forever' } });
    let errored: unknown;
    worker.on('error', (e) => {
      errored = e;
    });
    const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { epoch?: number }) => {
        if ((m.epoch ?? 0) >= 2) resolve();
      });
      worker.on('exit', (code) => reject(new Error(`the training worker exited (code ${code}) before its second epoch`)));
    });
    await worker.terminate();
    expect(await exited).toBe(1); // terminate()d, not crashed and not finished
    expect(errored).toBeUndefined();
    // The main thread's addon instance is untouched...
    expect((await router.routeBatch(prompts)).map((d) => d.scores)).toEqual(prompts.map((p) => router.routeSync(p).scores));
    // ...and a new Worker can load the addon again afterwards.
    const again = await runWorker({ mode: 'load', bytes, prompts: prompts.slice(0, 12) });
    expect(again.exitCode).toBe(0);
    expect(again.messages[0]!.sync).toEqual(prompts.slice(0, 12).map((p) => router.routeSync(p).scores));
  }, 300_000);
});

describe('process lifetime', () => {
  /** Runs an ES module script with `node -e` and returns once it exits (or is killed at the timeout). */
  function runNode(script: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean } {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: EXIT_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      env: { ...process.env, ROUTECORE_BACKEND: 'cpu' },
    });
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', timedOut };
  }

  function expectCleanExit(r: ReturnType<typeof runNode>, stdout: RegExp): void {
    expect(r.timedOut, `the script did not exit by itself within ${EXIT_TIMEOUT_MS} ms; stderr: ${r.stderr}`).toBe(false);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(stdout);
  }

  const lib = () => JSON.stringify(pathToFileURL(DIST_INDEX).href);

  it('a script that loads a router, awaits one route() and returns exits by itself', (ctx) => {
    requireDist(ctx);
    const file = join(tmp, 'lifetime.router');
    writeFileSync(file, bytes);
    const r = runNode(`
      const { Router } = await import(${lib()});
      const router = await Router.load(${JSON.stringify(file)});
      const d = await router.route('Add 2 and 3, then multiply the sum by 4.');
      console.log('routed to', d.model);
    `);
    expectCleanExit(r, /^routed to (calc|chat)\n$/);
  });

  it('... also after a batch scored on the addon thread, without dispose()', (ctx) => {
    requireDist(ctx);
    const file = join(tmp, 'lifetime.router');
    writeFileSync(file, bytes);
    const r = runNode(`
      const { Router } = await import(${lib()});
      const router = Router.loadSync(${JSON.stringify(file)});
      const ds = await router.routeBatch(Array.from({ length: 100 }, (_, i) => 'Write a greeting for day ' + i));
      console.log('batch', ds.length);
    `);
    expectCleanExit(r, /^batch 100\n$/);
  });

  it('... also after training, and with a route() that was never awaited', (ctx) => {
    requireDist(ctx);
    const r = runNode(`
      const { train } = await import(${lib()});
      const records = ${JSON.stringify(records.slice(0, 40))};
      const { router } = await train(records, ${JSON.stringify(OPTIONS)});
      router.route('Add 1 and 2, then multiply the sum by 3.').then((d) => console.log('late', d.model));
      console.log('trained', router.models.join(','));
    `);
    expectCleanExit(r, /^trained calc,chat\nlate (calc|chat)\n$/);
  });

  it('... and when a Worker that used the addon is still finishing', (ctx) => {
    requireDist(ctx);
    const file = join(tmp, 'lifetime.router');
    writeFileSync(file, bytes);
    const r = runNode(`
      import('node:worker_threads').then(async ({ Worker }) => {
        const { Router } = await import(${lib()});
        const router = Router.loadSync(${JSON.stringify(file)});
        console.log('main', router.routeSync('Add 2 and 2, then multiply the sum by 2.').model);
        const w = new Worker(new URL(${JSON.stringify(WORKER_SCRIPT.href)}), {
          execArgv: [], // not the parent's --input-type
          workerData: { mode: 'load', bytes: router.serialize(), prompts: ['Write a friendly greeting for Ann on day 3.'] },
        });
        w.on('message', (m) => console.log('worker', m.models.length));
      });
    `);
    expectCleanExit(r, /^main (calc|chat)\nworker 1\n$/);
  });
});
