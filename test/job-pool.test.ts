/**
 * The worker pool of `train --auto` and scripts/results.ts (`JobPool`): a worker that dies mid-run
 * is replaced and the job it was running is started again on the new one, so every job still
 * resolves, with the same result as on a healthy pool; a job that kills every worker it runs on is
 * given up with a clear error after JOB_RETRIES restarts; close() rejects what is left.
 *
 * The pool's threads load the BUILT worker (dist/src/training/auto-worker.js): these tests import
 * the built module and skip with a message when `npm run build:ts` has not been run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import type * as AutoModule from '../src/training/auto.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST_AUTO = join(ROOT, 'dist', 'src', 'training', 'auto.js');
const HAS_DIST = existsSync(DIST_AUTO) && existsSync(join(ROOT, 'dist', 'src', 'training', 'auto-worker.js'));
const SKIP = `dist/ is missing (${DIST_AUTO}): run \`npm run build:ts\`; the pool's threads load the built worker`;

function records(n: number): OutcomeRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    prompt: i % 2 ? `integrate the function ${i} over the interval` : `write a friendly email to colleague ${i}`,
    scores: { a: i % 2 ? 1 : 0, b: i % 2 ? 0 : 1 },
  }));
}

const load = async (): Promise<typeof AutoModule> => (await import(pathToFileURL(DIST_AUTO).href)) as typeof AutoModule;

describe.skipIf(!HAS_DIST)('JobPool survives a dead worker', () => {
  it('replaces a worker killed mid-run and resumes its job: every job resolves, as on a healthy pool', { timeout: 180_000 }, async () => {
    const { JobPool } = await load();
    const recs = records(80);
    const prompts = recs.slice(0, 10).map((r) => r.prompt);
    const jobs = [1, 2, 3, 4, 5, 6].map((seed) => ({ train: recs, options: { predictor: 'linear' as const, maxEpochs: 3, seed }, alpha: 1, prompts, keep: false, threads: 1 }));
    const healthy = new JobPool(2);
    const expected = await Promise.all(jobs.map((j) => healthy.run(j)));
    await healthy.close();
    expect(healthy.replaced).toBe(0);

    const pool = new JobPool(2);
    expect(pool.inThread).toBe(false);
    const running = jobs.map((j) => pool.run(j));
    // Both workers hold a job now; end one of them as a crash would.
    const victim = pool.workers[0]!;
    await victim.terminate();
    const got = await Promise.all(running);
    expect(pool.replaced).toBe(1);
    expect(pool.workers).toHaveLength(2);
    expect(pool.workers).not.toContain(victim);
    got.forEach((r, i) => {
      expect(r).not.toBeNull();
      expect(Array.from(r!.scores)).toEqual(Array.from(expected[i]!.scores));
    });
    // The pool still works after the replacement.
    expect((await pool.run(jobs[0]!))!.scores).toHaveLength(20);
    await pool.close();
  });

  it('gives a job up after JOB_RETRIES restarts when it kills every worker, naming the exit', { timeout: 60_000 }, async () => {
    const { JobPool, JOB_RETRIES } = await load();
    const pool = new JobPool(1, new URL('./fixtures/dying-worker.mjs', import.meta.url));
    const job = { train: records(10), options: {}, alpha: 1, prompts: [], keep: false, threads: 1 };
    await expect(pool.run(job)).rejects.toThrow(`a training worker died ${JOB_RETRIES + 1} times running the same job (last: exit code 3); the job is given up`);
    expect(pool.replaced).toBe(JOB_RETRIES + 1);
    await pool.close();
    await expect(pool.run(job)).rejects.toThrow('the training pool is closed');
  });
});

describe.skipIf(HAS_DIST)('JobPool (skipped)', () => {
  it.skip(SKIP, () => {});
});
