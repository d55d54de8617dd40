/**
 * Reads the judged pairs that shadow judging (src/learning/shadow.ts) writes into an outcome log,
 * with the prompts and feedback scores of the same log joined by request id. Both log kinds:
 * - JSONL (the in-process `OutcomeFile` and the gateway's `log: {kind: jsonl}`): outcome lines,
 *   feedback lines (`{"type":"feedback","id","ts","score"}`, or `{"id","ts","score"}` in-process) and
 *   judgment lines (`{"type":"judgment", ...}`, docs/LEARNING.md "Log format");
 * - SQLite (the gateway's default): the `outcomes`, `feedback` and `judgments` tables.
 * Kept apart from the other readers of this folder: it is the one place that knows the judgment format.
 * @module
 */
import { createRequire } from 'node:module';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { RoutecoreError, describe } from '../errors.js';
import type { OutcomeRecord, PairwiseRecord } from './data.js';

/** One judged pair: the judgment line of the log (docs/LEARNING.md). */
export interface Judgment {
  type: 'judgment';
  /** The request id: joins the outcome row of the same log (its prompt, its answer's model). */
  id: string;
  /** ISO-8601 time the verdict was reached. */
  ts: string;
  /** The model whose answer the client got. */
  served: string;
  /** The model called for comparison with the same request. */
  comparison: string;
  /** The judge model (registry id) and the template's name. */
  judge: string;
  template: string;
  /** Both orders combined: the served answer better, the comparison's better, or a tie. */
  verdict: 'served' | 'comparison' | 'tie';
  /** The raw verdicts: order 1 (served answer shown as A), order 2 (served answer shown as B). */
  raw: [string, string];
  /** `uniform`: in the uniform sample (estimates use these); `focus`: sampled for the router's uncertainty. */
  sample: 'uniform' | 'focus';
  /** The probability with which this request was sampled. */
  probability: number;
  /** The pricier and the cheaper of the two models by registry price; null when equal or unpriced. */
  strong: string | null;
  cheaper: string | null;
  /** The router's predicted P(strong better) for this prompt when it decided (two-model routers), else its score margin; null when unknown. */
  routeScore: number | null;
  /** USD of the served answer, of the comparison answer (bounded output), and of both judge calls. */
  servedCostUsd: number | null;
  comparisonCostUsd: number | null;
  judgeCostUsd: number | null;
}

/** What a log holds for learning. */
export interface LogContents {
  /** Judged pairs, oldest first, each with its prompt when the log stored it. */
  judgments: (Judgment & { prompt: string | null })[];
  /** Answered requests with a feedback score, as outcome records (`scores: {model: score}`). */
  feedback: OutcomeRecord[];
  /** Judgment lines whose request has no stored prompt (log.storePrompts false, or another replica's request). */
  withoutPrompt: number;
  /** Ids whose score was on the outcome line itself (JSONL), not in a separate feedback line or table. */
  inlineScores: ReadonlySet<string>;
}

const VERDICTS = new Set(['served', 'comparison', 'tie']);

/** Checks one judgment object; `where` names the file and line (or row). */
export function checkJudgment(v: unknown, where: string): Judgment {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: judgment field "${field}" must be ${expected}, got ${describe(got)}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('(line)', 'a JSON object', v);
  const o = v as Record<string, unknown>;
  for (const f of ['id', 'ts', 'served', 'comparison', 'judge']) if (typeof o[f] !== 'string' || o[f] === '') fail(f, 'a non-empty string', o[f]);
  if (!VERDICTS.has(o['verdict'] as string)) fail('verdict', '"served", "comparison" or "tie"', o['verdict']);
  if (o['sample'] !== 'uniform' && o['sample'] !== 'focus') fail('sample', '"uniform" or "focus"', o['sample']);
  const p = o['probability'];
  if (typeof p !== 'number' || !(p > 0 && p <= 1)) fail('probability', 'a number in (0, 1]', p);
  for (const f of ['strong', 'cheaper']) if (o[f] !== null && o[f] !== undefined && typeof o[f] !== 'string') fail(f, 'a model id or null', o[f]);
  for (const f of ['routeScore', 'servedCostUsd', 'comparisonCostUsd', 'judgeCostUsd']) {
    const x = o[f];
    if (x !== null && x !== undefined && (typeof x !== 'number' || !Number.isFinite(x))) fail(f, 'a finite number or null', x);
  }
  const raw = Array.isArray(o['raw']) && o['raw'].length === 2 ? (o['raw'] as unknown[]).map(String) : ['', ''];
  return {
    type: 'judgment',
    id: o['id'] as string,
    ts: o['ts'] as string,
    served: o['served'] as string,
    comparison: o['comparison'] as string,
    judge: o['judge'] as string,
    template: typeof o['template'] === 'string' ? o['template'] : 'default',
    verdict: o['verdict'] as Judgment['verdict'],
    raw: [raw[0]!, raw[1]!],
    sample: o['sample'] as Judgment['sample'],
    probability: p as number,
    strong: (o['strong'] as string | null | undefined) ?? null,
    cheaper: (o['cheaper'] as string | null | undefined) ?? null,
    routeScore: (o['routeScore'] as number | null | undefined) ?? null,
    servedCostUsd: (o['servedCostUsd'] as number | null | undefined) ?? null,
    comparisonCostUsd: (o['comparisonCostUsd'] as number | null | undefined) ?? null,
    judgeCostUsd: (o['judgeCostUsd'] as number | null | undefined) ?? null,
  };
}

/** Whether a file is an SQLite database (by its 16-byte header). */
export function isSqliteFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 0);
    return b.toString('latin1') === 'SQLite format 3\u0000';
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a log (JSONL or SQLite, recognised by content) for learning. `withPrompts: false` reads the
 * judged pairs only (prompt null, no feedback): what the estimates need, without holding every prompt
 * of a large log in memory.
 */
export function readLearningLog(path: string, options: { withPrompts?: boolean } = {}): LogContents {
  const withPrompts = options.withPrompts !== false;
  return isSqliteFile(path) ? readSqlite(path, withPrompts) : readJsonl(path, withPrompts);
}

/** Judged pairs as pairwise training records (served vs comparison; the winner by the verdict); pairs without a prompt are left out. */
export function judgedBattles(judgments: LogContents['judgments']): PairwiseRecord[] {
  const out: PairwiseRecord[] = [];
  for (const j of judgments) {
    if (j.prompt === null || j.prompt === '') continue;
    out.push({ id: `judged:${j.id}`, prompt: j.prompt, modelA: j.served, modelB: j.comparison, winner: j.verdict === 'served' ? 'model_a' : j.verdict === 'comparison' ? 'model_b' : 'tie' });
  }
  return out;
}

/**
 * A log as `train --auto` training records: answered requests with feedback (`{model: score}`) and
 * judged pairs (winner 1, loser 0, a tie ½ each, as for pairwise files). `separateOnly`: leave out
 * scores written on the outcome line itself (the JSONL outcome-log reader of auto-data.ts reads those).
 */
export function logTrainingRecords(path: string, separateOnly = false): { records: OutcomeRecord[]; judged: number } {
  const log = readLearningLog(path);
  const records: OutcomeRecord[] = log.feedback.filter((f) => !separateOnly || !log.inlineScores.has(f.id));
  for (const b of judgedBattles(log.judgments)) {
    const a = b.winner === 'model_a' ? 1 : b.winner === 'model_b' ? 0 : 0.5;
    records.push({ id: b.id, prompt: b.prompt, scores: { [b.modelA]: a, [b.modelB]: 1 - a } });
  }
  return { records, judged: log.judgments.length };
}

/** Rows of the judgments table read between two turns of the event loop. */
const ROWS_PER_TURN = 500;

/**
 * The judged pairs of a log (JSONL or SQLite), oldest first, read without holding the event loop: a
 * JSONL file is streamed (only lines that can be judgments are parsed), the SQLite table is read
 * {@link ROWS_PER_TURN} rows a turn. What a gateway reads back at start while it already answers; the
 * same pairs, order and errors as `readLearningLog(path, { withPrompts: false }).judgments`, except that
 * a malformed line that is not a judgment is skipped unread here.
 */
export async function readJudgmentsAsync(path: string): Promise<Judgment[]> {
  if (isSqliteFile(path)) return readSqliteJudgments(path);
  const judgments: Judgment[] = [];
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  let torn: RoutecoreError | undefined;
  try {
    for await (const line of lines) {
      n++;
      // A line that did not parse is a torn last line (the process died mid-write) only if nothing follows it.
      if (torn) throw torn;
      if (!line.includes('"judgment"')) continue;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (err) {
        torn = new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path}:${n}: not valid JSON (${(err as Error).message.slice(0, 100)})`, { cause: err });
        continue;
      }
      if (typeof o === 'object' && o !== null && (o as Record<string, unknown>)['type'] === 'judgment') judgments.push(checkJudgment(o, `${path}:${n}`));
    }
  } catch (err) {
    if (err instanceof RoutecoreError) throw err;
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read the log ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    lines.close();
  }
  return byTime(judgments);
}

function readJsonl(path: string, withPrompts: boolean): LogContents {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read the log ${path}: ${(err as Error).message}`, { cause: err });
  }
  const prompts = new Map<string, { prompt: string | null; model: string | null; costUsd: number | null }>();
  const scores = new Map<string, number>();
  const inline = new Set<string>();
  const judgments: Judgment[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      // A torn last line (the process died mid-write) is not data; anything else is an error.
      if (i >= lines.length - 2) break;
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path}:${i + 1}: not valid JSON (${(err as Error).message.slice(0, 100)})`, { cause: err });
    }
    if (typeof o !== 'object' || o === null) continue;
    if (o['type'] === 'judgment') {
      judgments.push(checkJudgment(o, `${path}:${i + 1}`));
    } else if (!withPrompts) {
      // A judgments-only read skips prompt and feedback lines.
    } else if (o['type'] === 'feedback' || (!('model' in o) && typeof o['score'] === 'number' && typeof o['id'] === 'string')) {
      if (typeof o['id'] === 'string' && typeof o['score'] === 'number') {
        scores.set(o['id'], o['score']);
        inline.delete(o['id']);
      }
    } else if (typeof o['id'] === 'string') {
      prompts.set(o['id'], { prompt: typeof o['prompt'] === 'string' ? o['prompt'] : null, model: typeof o['model'] === 'string' ? o['model'] : null, costUsd: typeof o['costUsd'] === 'number' ? o['costUsd'] : null });
      if (typeof o['score'] === 'number') {
        scores.set(o['id'], o['score']);
        inline.add(o['id']);
      }
    }
  }
  return assemble(judgments, prompts, scores, inline);
}

/** Oldest first, by verdict time (the order every reader returns). */
function byTime(judgments: Judgment[]): Judgment[] {
  return judgments.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
}

function assemble(judgments: Judgment[], prompts: Map<string, { prompt: string | null; model: string | null; costUsd: number | null }>, scores: Map<string, number>, inlineScores: ReadonlySet<string> = new Set()): LogContents {
  byTime(judgments);
  let withoutPrompt = 0;
  const joined = judgments.map((j) => {
    const p = prompts.get(j.id)?.prompt ?? null;
    if (p === null) withoutPrompt++;
    return { ...j, prompt: p };
  });
  const feedback: OutcomeRecord[] = [];
  for (const [id, score] of scores) {
    const row = prompts.get(id);
    if (!row || row.prompt === null || row.prompt === '' || row.model === null || !(score >= 0 && score <= 1)) continue;
    const rec: OutcomeRecord = { id, prompt: row.prompt, scores: { [row.model]: score } };
    if (row.costUsd !== null && row.costUsd >= 0) rec.costs = { [row.model]: row.costUsd };
    feedback.push(rec);
  }
  return { judgments: joined, feedback, withoutPrompt, inlineScores };
}

interface Db {
  prepare(sql: string): { all(...p: unknown[]): unknown[]; get(...p: unknown[]): unknown };
  close(): void;
}

/** Opens a log database read-only and checks it is one; `has` tells whether a table exists. */
function openLogDb(path: string): { db: Db; has: (table: string) => boolean } {
  const require = createRequire(import.meta.url);
  let db: Db;
  try {
    const Database = require('better-sqlite3') as new (p: string, o: object) => Db;
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot open the log database ${path}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const has = (t: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined;
  if (!has('outcomes')) {
    db.close();
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path} is not a routecore log database (no outcomes table)`);
  }
  return { db, has };
}

/** One row of the judgments table as a judgment. */
function judgmentRow(path: string, r: { seq: number; record: string }): Judgment {
  let o: unknown;
  try {
    o = JSON.parse(r.record);
  } catch {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${path}: judgments row ${r.seq} is not JSON`);
  }
  return checkJudgment(o, `${path}: judgments row ${r.seq}`);
}

/** {@link readJudgmentsAsync} of a log database: {@link ROWS_PER_TURN} rows a turn, by `seq` ranges (no statement held open across turns). */
async function readSqliteJudgments(path: string): Promise<Judgment[]> {
  const { db, has } = openLogDb(path);
  try {
    const judgments: Judgment[] = [];
    if (!has('judgments')) return judgments;
    const page = db.prepare('SELECT seq, record FROM judgments WHERE seq > ? ORDER BY seq LIMIT ?');
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = page.all(after, ROWS_PER_TURN) as { seq: number; record: string }[];
      for (const r of rows) judgments.push(judgmentRow(path, r));
      if (rows.length < ROWS_PER_TURN) break;
      after = rows[rows.length - 1]!.seq;
      await nextTurn();
    }
    return byTime(judgments);
  } finally {
    db.close();
  }
}

function readSqlite(path: string, withPrompts: boolean): LogContents {
  const { db, has } = openLogDb(path);
  try {
    const prompts = new Map<string, { prompt: string | null; model: string | null; costUsd: number | null }>();
    if (withPrompts) for (const r of db.prepare("SELECT id, prompt, model, cost_usd AS costUsd FROM outcomes WHERE status = 'ok'").all() as { id: string; prompt: string | null; model: string | null; costUsd: number | null }[]) prompts.set(r.id, r);
    const scores = new Map<string, number>();
    if (withPrompts && has('feedback')) for (const r of db.prepare('SELECT id, score FROM feedback ORDER BY seq').all() as { id: string; score: number }[]) scores.set(r.id, r.score);
    const judgments: Judgment[] = [];
    if (has('judgments')) {
      for (const r of db.prepare('SELECT seq, record FROM judgments ORDER BY seq').all() as { seq: number; record: string }[]) judgments.push(judgmentRow(path, r));
    }
    return assemble(judgments, prompts, scores);
  } finally {
    db.close();
  }
}
