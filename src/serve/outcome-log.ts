/**
 * The gateway's decision and outcome log: one row per request (answered, failed or refused), plus the
 * scores clients report later through `POST /v1/feedback`. SQLite (better-sqlite3) by default, JSONL
 * or nothing on request.
 *
 * Writes never happen on a request's path: rows wait in memory and are written in one transaction per
 * batch (every `flushMs`, or sooner once `batchSize` rows wait). A transaction of 1,000 rows costs a
 * few milliseconds; one transaction per request would cost a disk sync each and cap the gateway at a
 * few hundred requests per second. The SQLite log writes its batches on a worker thread of its own
 * (./log-writer.ts): measured under 32 connections, the inserts were 12–14% of the gateway's busy time
 * when they ran on the event loop. An explicit {@link GatewayLog.flush} still returns only once
 * everything queued is in the file.
 *
 * With the writer thread, rows leave the event loop's heap within {@link HAND_OFF_MS} and the writer
 * gathers them into one transaction per `flushMs` (or `batchSize` rows): kept on the event loop for the
 * whole 200 ms, a second's worth of rows outlived every young-generation collection there, which
 * tripled its pauses (3.8–5.1 ms against 1.6 ms with no log, `node --trace-gc`, 32 connections) and caused the
 * old-generation collections (2–3 per 6 s against none). See docs/PERFORMANCE.md.
 *
 * better-sqlite3 is an optional peer dependency (it is a native module; an install without a compiler or a
 * reachable prebuilt binary drops it). The gateway then refuses to start with the default SQLite log
 * and says how to fix it or choose `log: {kind: jsonl}`.
 * @module
 */
import { createRequire } from 'node:module';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { RoutecoreError } from '../errors.js';
import type { Attempt, Usage } from '../app/hub.js';
import type { Judgment } from '../training/judged-pairs.js';
import type { LogConfig } from './config.js';

/** One request's row: DESIGN.md's outcome-log fields plus what the gateway knows (HTTP status, client key, requested name). */
export interface LogRow {
  id: string;
  /** ISO-8601 time the request arrived. */
  ts: string;
  /** The text the router encoded; null when refused before routing or when prompts are not stored. */
  prompt: string | null;
  /** The router's first choice; null when refused before routing. */
  routed: string | null;
  /** The model that answered; null when none did. */
  model: string | null;
  attempts: Attempt[];
  usage: Usage | null;
  costUsd: number | null;
  latencyMs: number;
  /** `ok`, `error`, `rejected`, `aborted`, `interrupted` (the executor's), or `refused` (the gateway's: 4xx before any upstream call). */
  status: string;
  /** The HTTP status answered (499 when the client went away first). */
  httpStatus: number;
  policy: string | null;
  stream: boolean;
  error?: string;
  session?: string;
  /** The client key's name (never the key). */
  key: string | null;
  /** The `model` the client asked for. */
  requested: string | null;
}

/** The gateway's request log: one row per request and the feedback scores, batched into a store (SQLite, JSONL, or none). */
export interface GatewayLog {
  /** Queues a row; never blocks on the disk. */
  write(row: LogRow): void;
  /**
   * Queues a score for request `id`; returns whether this log holds (or is about to hold) that request.
   * A score for an unknown id is stored only when `storeUnknown` (replicas with separate logs: the
   * request may be in another replica's log, and export joins them by id).
   */
  feedback(id: string, score: number, storeUnknown?: boolean): boolean;
  /** Queues a judged pair of shadow judging (docs/LEARNING.md), joined to its request by `id`. */
  judgment(j: Judgment): void;
  /** Writes everything queued now. */
  flush(): void;
  /** Rows written to the store so far (queued ones excluded). */
  readonly written: number;
  /** Rows waiting in memory. */
  readonly queued: number;
  /** Flushes and closes the store. */
  close(): Promise<void>;
  /**
   * Where the log says that rows were lost (a full disk, a failed writer thread); default a line on
   * stderr. The gateway points it at its logger.
   */
  onProblem?: (message: string) => void;
}

/** The log that keeps nothing (`log: {kind: none}`); feedback is accepted for any id. */
export class NullLog implements GatewayLog {
  written = 0;
  queued = 0;
  write(): void {}
  feedback(): boolean {
    return true;
  }
  judgment(): void {}
  flush(): void {}
  async close(): Promise<void> {}
}

/**
 * Longest a row waits on the event loop before it goes to the SQLite log's writer thread, which then
 * holds it until its transaction (`flushMs`). Short enough that rows die young in the event loop's heap
 * (V8 collects its young generation every ~50–100 ms under load); one message per 10 ms costs nothing.
 */
export const HAND_OFF_MS = 10;

/** Shared batching: a queue flushed on a timer or when full, on a later turn of the event loop. */
abstract class BatchingLog implements GatewayLog {
  protected rows: LogRow[] = [];
  protected scores: { id: string; ts: string; score: number }[] = [];
  protected judgments: Judgment[] = [];
  #written = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;

  onProblem: (message: string) => void = (message) => process.stderr.write(`routecore serve: ${message}\n`);

  constructor(protected readonly config: LogConfig) {}

  get written(): number {
    return this.#written;
  }

  get queued(): number {
    return this.rows.length;
  }

  write(row: LogRow): void {
    if (this.#closed) return;
    this.rows.push(this.config.storePrompts ? row : { ...row, prompt: null });
    this.#schedule();
  }

  feedback(id: string, score: number, storeUnknown = false): boolean {
    if (this.#closed) return false;
    // Feedback that races its own row: still queued here, or handed to the writer and not yet committed
    // (then written now, and looked up again). Rare; a set of every pending id instead kept each
    // request's id alive past the young generation.
    let known = this.holds(id) || this.rows.some((r) => r.id === id);
    if (!known && this.inFlight()) {
      this.flush();
      known = this.holds(id);
    }
    if (!known && !storeUnknown) return false;
    this.scores.push({ id, ts: new Date().toISOString(), score });
    this.#schedule();
    return known;
  }

  judgment(j: Judgment): void {
    if (this.#closed) return;
    this.judgments.push(j);
    this.#schedule();
  }

  /** Writes everything queued; returns once it is in the store. */
  flush(): void {
    this.#flush(true);
  }

  #flush(sync: boolean): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.rows.length === 0 && this.scores.length === 0 && this.judgments.length === 0) {
      // Nothing queued here, but an explicit flush still waits for what the writer holds (asking it to commit now).
      if (sync && this.inFlight()) this.store([], [], [], true);
      return;
    }
    const rows = this.rows;
    const scores = this.scores;
    const judgments = this.judgments;
    this.rows = [];
    this.scores = [];
    this.judgments = [];
    try {
      this.store(rows, scores, judgments, sync);
    } catch (err) {
      this.settled(rows.length, (err as Error).message);
    }
  }

  /** A batch of `rows` rows reached the store (or failed: `error`). */
  protected settled(rows: number, error?: string): void {
    // A full disk must not take the gateway down; the rows are lost, and said so, once per batch.
    if (error !== undefined) this.onProblem(`could not write ${rows} log rows to ${this.config.path}: ${error}`);
    else this.#written += rows;
  }

  /** Whether rows were handed to a store that has not written them yet (a writer thread). */
  protected inFlight(): boolean {
    return false;
  }

  async close(): Promise<void> {
    this.flush();
    this.#closed = true;
    this.closeStore();
  }

  #schedule(): void {
    if (this.rows.length + this.scores.length + this.judgments.length >= this.config.batchSize) {
      // Full: write on the next turn (not inside the request that filled it).
      if (!this.#immediate) this.#immediate = setImmediate(() => this.#flush(false));
      return;
    }
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(false), this.handOffMs());
      this.#timer.unref();
    }
  }

  /** How long rows wait here before {@link store} takes them: `flushMs`, unless the store batches them itself. */
  protected handOffMs(): number {
    return this.config.flushMs;
  }

  protected abstract holds(id: string): boolean;
  /** Writes a batch and calls {@link settled} (at once, or later when `sync` is false and the store writes elsewhere). */
  protected abstract store(rows: LogRow[], scores: { id: string; ts: string; score: number }[], judgments: Judgment[], sync: boolean): void;
  protected abstract closeStore(): void;
}

/** The JSONL log: one DESIGN.md outcome object per line; feedback lines are `{"type":"feedback","id","ts","score"}`, judged pairs `{"type":"judgment",...}`. */
export class JsonlLog extends BatchingLog {
  /** Ids written by this process (feedback for older ids of the file is accepted without a check). */
  readonly #ids = new Set<string>();

  constructor(config: LogConfig) {
    super(config);
    try {
      mkdirSync(dirname(config.path), { recursive: true });
      appendFileSync(config.path, '');
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot open the log file ${config.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  protected holds(id: string): boolean {
    return this.#ids.has(id);
  }

  protected store(rows: LogRow[], scores: { id: string; ts: string; score: number }[], judgments: Judgment[]): void {
    let text = '';
    for (const r of rows) {
      text += JSON.stringify(r) + '\n';
      this.#ids.add(r.id);
    }
    for (const s of scores) text += JSON.stringify({ type: 'feedback', ...s }) + '\n';
    for (const j of judgments) text += JSON.stringify(j) + '\n';
    appendFileSync(this.config.path, text);
    this.settled(rows.length);
  }

  protected closeStore(): void {}
}

/** The subset of better-sqlite3's API this module uses (typed here so that the package stays optional). */
interface SqliteStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  pragma(sql: string): unknown;
  transaction<F extends (...args: never[]) => void>(fn: F): F;
  close(): void;
}
type SqliteConstructor = new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => SqliteDatabase;

let sqliteCtor: SqliteConstructor | undefined;

/** better-sqlite3's constructor, or a clear error saying why it cannot be used and what to do. */
export function loadSqlite(): SqliteConstructor {
  if (sqliteCtor) return sqliteCtor;
  const require = createRequire(import.meta.url);
  try {
    sqliteCtor = require('better-sqlite3') as SqliteConstructor;
    // Loading the package does not load its native module; opening a database does.
    new sqliteCtor(':memory:').close();
  } catch (err) {
    sqliteCtor = undefined;
    throw new RoutecoreError(
      'ERR_ROUTECORE_IO',
      `the SQLite outcome log needs better-sqlite3 12.x, which could not be loaded (${(err as Error).message.split('\n')[0]}). ` +
        'Install it (npm install better-sqlite3@12; it downloads a prebuilt binary or builds with a C++ compiler), ' +
        'or choose another log: --log jsonl:PATH or --log none (in a config file, log: "jsonl:PATH" or log: none)',
      { cause: err },
    );
  }
  return sqliteCtor;
}

/** Schema version stored in `meta`; a newer file is refused rather than misread. */
export const LOG_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  ts TEXT NOT NULL,
  prompt TEXT,
  routed TEXT,
  model TEXT,
  attempts TEXT NOT NULL,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  usage_estimated INTEGER,
  cost_usd REAL,
  latency_ms REAL NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  policy TEXT,
  stream INTEGER NOT NULL,
  error TEXT,
  session TEXT,
  client_key TEXT,
  requested TEXT
);
CREATE INDEX IF NOT EXISTS outcomes_id ON outcomes (id);
CREATE TABLE IF NOT EXISTS feedback (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, ts TEXT NOT NULL, score REAL NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_id ON feedback (id);
CREATE TABLE IF NOT EXISTS judgments (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, ts TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS judgments_id ON judgments (id);
`;

/** Opens (creating if needed) a log database and checks its schema version. */
export function openLogDatabase(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  const Database = loadSqlite();
  let db: SqliteDatabase;
  try {
    if (!options.readonly) mkdirSync(dirname(path), { recursive: true });
    db = options.readonly ? new Database(path, { readonly: true, fileMustExist: true }) : new Database(path);
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot open the log database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema', String(LOG_SCHEMA_VERSION));
    }
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
    const version = Number(row?.value);
    if (!Number.isInteger(version) || version > LOG_SCHEMA_VERSION) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path}: log schema version ${row?.value ?? 'missing'}; this routecore reads version ${LOG_SCHEMA_VERSION} or older`);
    }
  } catch (err) {
    db.close();
    if (err instanceof RoutecoreError) throw err;
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path} is not a routecore log database: ${(err as Error).message}`, { cause: err });
  }
  return db;
}

type Score = { id: string; ts: string; score: number };

/** A row's values in the order of the `outcomes` insert (SQLite types: 0/1 for booleans, attempts as JSON). */
export type RowValues = (string | number | null)[];

/**
 * A row as the values the insert binds. Rows travel to the writer thread in this form: a flat array
 * of primitives clones for postMessage in 1.1–1.4 µs a row where the row object took 1.7–2.2 µs
 * (node micro-benchmark, batches of 1,000 rows, the JSON of attempts included).
 */
export function rowValues(r: LogRow): RowValues {
  return [
    r.id, r.ts, r.prompt, r.routed, r.model, JSON.stringify(r.attempts),
    r.usage?.prompt_tokens ?? null, r.usage?.completion_tokens ?? null, r.usage ? (r.usage.estimated ? 1 : 0) : null,
    r.costUsd, r.latencyMs, r.status, r.httpStatus, r.policy, r.stream ? 1 : 0,
    r.error ?? null, r.session ?? null, r.key, r.requested,
  ];
}

/** What the writer thread is started with. */
export interface WriterData {
  path: string;
  /** [0]: parts committed, incremented by the writer (Atomics), so an explicit flush can wait for them. */
  done: SharedArrayBuffer;
  /** The writer commits once this many rows, scores and judged pairs wait, */
  batchSize: number;
  /** or this long after the first of them arrived. */
  flushMs: number;
}

/** One hand-off to the writer thread: rows as their insert values, scores, judged pairs; `commit`: write them now. */
export interface WriterPart {
  rows: RowValues[];
  scores: Score[];
  judgments: Judgment[];
  commit: boolean;
}

/** The batch transaction on an open log database: one insert per row ({@link rowValues}), score and judged pair. */
export function sqliteBatch(db: SqliteDatabase): (rows: RowValues[], scores: Score[], judgments: Judgment[]) => void {
  const insert = db.prepare(
    `INSERT INTO outcomes (id, ts, prompt, routed, model, attempts, prompt_tokens, completion_tokens, usage_estimated, cost_usd, latency_ms, status, http_status, policy, stream, error, session, client_key, requested)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertScore = db.prepare('INSERT INTO feedback (id, ts, score) VALUES (?, ?, ?)');
  // A judged pair is kept whole as JSON (docs/LEARNING.md): its fields are read together, never queried one by one.
  const insertJudgment = db.prepare('INSERT INTO judgments (id, ts, record) VALUES (?, ?, ?)');
  return db.transaction((rows: RowValues[], scores: Score[], judgments: Judgment[]) => {
    for (const values of rows) insert.run(values);
    for (const s of scores) insertScore.run(s.id, s.ts, s.score);
    for (const j of judgments) insertJudgment.run(j.id, j.ts, JSON.stringify(j));
  });
}

/** The compiled writer next to this module; from TypeScript sources (tests) it is absent and batches are written in-thread. */
const WRITER_URL = new URL('./log-writer.js', import.meta.url);

/** The SQLite log (the default). Batches are written by a worker thread when the compiled writer is there. */
export class SqliteLog extends BatchingLog {
  readonly #db: SqliteDatabase;
  readonly #has: SqliteStatement;
  #batch: ((rows: RowValues[], scores: Score[], judgments: Judgment[]) => void) | undefined;
  #worker: Worker | undefined;
  /** [0]: batches the writer has finished (incremented by the worker, waited on with Atomics). */
  #done: Int32Array | undefined;
  /** The row count of each part handed to the writer and not yet committed, oldest first (counts only: nothing of a row stays on this heap). */
  readonly #posted: number[] = [];
  #settledBatches = 0;

  /** @param writer the worker script (default: the compiled `log-writer.js` next to this module; `null`: write on this thread). */
  constructor(config: LogConfig, writer: URL | null = WRITER_URL) {
    super(config);
    this.#db = openLogDatabase(config.path);
    this.#has = this.#db.prepare('SELECT 1 FROM outcomes WHERE id = ? LIMIT 1');
    if (writer !== null && existsSync(fileURLToPath(writer))) {
      const done = new Int32Array(new SharedArrayBuffer(4));
      this.#done = done;
      // execArgv: []: the writer needs none of the process's flags, and some (--input-type, --eval) would stop it starting.
      const data: WriterData = { path: config.path, done: done.buffer as SharedArrayBuffer, batchSize: config.batchSize, flushMs: config.flushMs };
      this.#worker = new Worker(writer, { workerData: data, execArgv: [] });
      this.#worker.on('message', (m: { error?: string }) => {
        // One message per transaction, in order; a failed one is said at once (its rows are lost, as on this thread).
        if (m?.error !== undefined) this.onProblem(`could not write a batch of log rows to ${config.path}: ${m.error}`);
        this.#settle();
      });
      this.#worker.on('error', (err) => {
        // The writer is gone: write on this thread from now on, and say so once.
        this.onProblem(`the log writer thread failed (${err.message}); writing the log on the main thread`);
        this.#worker = undefined;
        this.#batch = sqliteBatch(this.#db);
        for (const rows of this.#posted.splice(0)) this.settled(rows, 'the writer thread failed before writing this batch');
      });
      // After the listeners: adding a 'message' listener refs the worker again. An open log must not keep the process alive.
      this.#worker.unref();
    } else {
      this.#batch = sqliteBatch(this.#db);
    }
  }

  /** Whether batches are written on a worker thread. */
  get threaded(): boolean {
    return this.#worker !== undefined;
  }

  protected holds(id: string): boolean {
    return this.#has.get(id) !== undefined;
  }

  protected override inFlight(): boolean {
    return this.#posted.length > 0;
  }

  protected override handOffMs(): number {
    return this.#worker ? Math.min(this.config.flushMs, HAND_OFF_MS) : this.config.flushMs;
  }

  protected store(rows: LogRow[], scores: Score[], judgments: Judgment[], sync: boolean): void {
    if (!this.#worker) {
      this.#batch!(rows.map(rowValues), scores, judgments);
      this.settled(rows.length);
      return;
    }
    this.#posted.push(rows.length);
    // `commit`: an explicit flush asks the writer for its transaction now, not at its own flushMs.
    const part: WriterPart = { rows: rows.map(rowValues), scores, judgments, commit: sync };
    this.#worker.postMessage(part);
    if (sync) this.#waitAll();
  }

  /** Settles every batch the writer has finished. */
  #settle(): void {
    const done = Atomics.load(this.#done!, 0);
    while (this.#settledBatches < done && this.#posted.length > 0) {
      this.#settledBatches++;
      this.settled(this.#posted.shift()!);
    }
  }

  /** Blocks until the writer has committed every part handed to it (at most 30 s; the last part asked for its commit). */
  #waitAll(): void {
    const target = this.#settledBatches + this.#posted.length;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const done = Atomics.load(this.#done!, 0);
      if (done >= target || Date.now() > deadline) break;
      Atomics.wait(this.#done!, 0, done, 1000);
    }
    this.#settle();
  }

  protected closeStore(): void {
    if (this.#worker) {
      void this.#worker.terminate();
      this.#worker = undefined;
    }
    this.#db.close();
  }
}

/** The log a config asks for. */
export function openGatewayLog(config: LogConfig): GatewayLog {
  if (config.kind === 'none') return new NullLog();
  if (config.kind === 'jsonl') return new JsonlLog(config);
  return new SqliteLog(config);
}
