/**
 * The SQLite log's writer thread (see ./outcome-log.ts): receives parts (rows as their insert values,
 * scores, judged pairs) every few milliseconds, gathers them and writes them in one transaction once
 * `batchSize` are waiting, `flushMs` after the first arrived, or when a part asks (an explicit flush) on
 * its own connection. It counts committed parts in shared memory (so the gateway can wait for them
 * synchronously on an explicit flush) and says so by message, one per transaction (so it settles them
 * without waiting).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

import { openLogDatabase, sqliteBatch, type WriterData, type WriterPart } from './outcome-log.js';

const { path, done, batchSize, flushMs } = workerData as WriterData;
const finished = new Int32Array(done);
const db = openLogDatabase(path);
const batch = sqliteBatch(db);

let parts: WriterPart[] = [];
let waiting = 0;
let timer: NodeJS.Timeout | undefined;

function commit(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  if (parts.length === 0) return;
  const taken = parts;
  parts = [];
  waiting = 0;
  let error: string | undefined;
  try {
    if (taken.length === 1) batch(taken[0]!.rows, taken[0]!.scores, taken[0]!.judgments);
    else batch(taken.flatMap((p) => p.rows), taken.flatMap((p) => p.scores), taken.flatMap((p) => p.judgments));
  } catch (err) {
    error = (err as Error).message;
  }
  Atomics.add(finished, 0, taken.length);
  Atomics.notify(finished, 0);
  parentPort!.postMessage(error === undefined ? {} : { error });
}

parentPort!.on('message', (part: WriterPart) => {
  parts.push(part);
  waiting += part.rows.length + part.scores.length + part.judgments.length;
  if (part.commit || waiting >= batchSize) commit();
  else timer ??= setTimeout(commit, flushMs);
});
