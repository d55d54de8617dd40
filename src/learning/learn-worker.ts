/**
 * The worker thread of `serve --learn`: runs one learning round ({@link learnOnce}) with the options
 * it was started with, posts `{decision}` or `{error}`, and exits.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

import { learnOnce, type LearnOptions } from './learn.js';

learnOnce(workerData as LearnOptions).then(
  (decision) => parentPort?.postMessage({ decision }),
  (err: unknown) => parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) }),
);
