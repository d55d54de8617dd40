/**
 * Worker-thread side of `train --auto`: runs training jobs posted by the pool in auto.ts (one
 * router at a time per thread, each trained with one native thread).
 * @module
 */
import { parentPort } from 'node:worker_threads';

import { isRoutecoreError } from '../errors.js';
import { runAutoJob, type AutoJob } from './auto.js';

parentPort!.on('message', (job: AutoJob) => {
  runAutoJob(job).then(
    (result) => parentPort!.postMessage({ ok: true, result }, [result.scores.buffer as ArrayBuffer, ...(result.bytes ? [result.bytes.buffer as ArrayBuffer] : [])]),
    (err: unknown) =>
      parentPort!.postMessage({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        code: isRoutecoreError(err) ? err.code : undefined,
      }),
  );
});
