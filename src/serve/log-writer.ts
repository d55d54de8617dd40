/**
 * The SQLite log's writer thread (see ./outcome-log.ts): receives batches of rows (as their insert values), scores and judged
 * pairs, writes each in one transaction on its own connection, and counts finished batches in shared
 * memory (so the gateway can wait for them synchronously on an explicit flush) and by message (so it
 * settles them without waiting).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

import { openLogDatabase, sqliteBatch, type RowValues } from './outcome-log.js';
import type { Judgment } from '../training/judged-pairs.js';

const { path, done } = workerData as { path: string; done: SharedArrayBuffer };
const finished = new Int32Array(done);
const db = openLogDatabase(path);
const batch = sqliteBatch(db);

parentPort!.on('message', (m: { rows: RowValues[]; scores: { id: string; ts: string; score: number }[]; judgments: Judgment[] }) => {
  let error: string | undefined;
  try {
    batch(m.rows, m.scores, m.judgments);
  } catch (err) {
    error = (err as Error).message;
  }
  Atomics.add(finished, 0, 1);
  Atomics.notify(finished, 0);
  parentPort!.postMessage(error === undefined ? {} : { error });
});
