/**
 * Readers for the two JSONL data formats (docs/ARCHITECTURE.md "Data formats"): per-model outcome records and
 * pairwise preference records. Every rejected line is reported with file and line number, and in
 * skip mode the report lists what was dropped and why, so training never loses data silently.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { RoutecoreError, describe, invalidArgument, isPlainObject } from '../errors.js';

/** One prompt with the score each model obtained on it (and optionally what each call cost). */
export interface OutcomeRecord {
  /** The record's id; `${basename}:${line}` when the file gives none. Not required to be unique. */
  id: string;
  /** Task or subject label, e.g. `gsm8k` or `mmlu/anatomy`. */
  task?: string;
  /** The prompt text, non-empty. */
  prompt: string;
  /** Model id → score in [0,1]; at least one model. */
  scores: Record<string, number>;
  /** Model id → USD spent on this query; every key also appears in `scores`. */
  costs?: Record<string, number>;
}

/** One Chatbot-Arena-style comparison (`model_a`/`model_b` in the file). */
export interface PairwiseRecord {
  /** The record's id; `${basename}:${line}` when the file gives none. */
  id: string;
  /** The prompt text, non-empty. */
  prompt: string;
  /** The file's `model_a`. */
  modelA: string;
  /** The file's `model_b`, different from `model_a`. */
  modelB: string;
  /** Which side won; Arena's `"tie (bothbad)"` is read as `"tie"`. */
  winner: 'model_a' | 'model_b' | 'tie';
}

/** What a read found: physical lines, accepted records and the lines skipped (skip mode only). */
export interface ReadReport {
  /** The path as given. */
  file: string;
  /** Physical lines in the file, blank ones included (a final newline does not start a line). */
  lines: number;
  /** Records returned. */
  records: number;
  /** Lines rejected in skip mode: 1-based line number and the reason (the error message). */
  skipped: { line: number; reason: string }[];
  /**
   * Outcome logs only (the executor's JSONL, see src/execution/outcome-log.ts): answered requests
   * that have no score yet (no feedback), and failed requests; neither is a training record.
   */
  unscored?: number;
  /** Outcome logs only: feedback lines whose request is not in the file. */
  orphanFeedback?: number;
}

/** How to treat a bad line: `'error'` (default) throws on the first one, `'skip'` records it in the report. */
export interface ReadOptions {
  onBadRecord?: 'error' | 'skip';
}

const MAX_JSON_REASON = 120;

function badData(file: string, lineNo: number, what: string, cause?: unknown): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${file}:${lineNo}: ${what}`, cause === undefined ? undefined : { cause });
}

/** `ERR_ROUTECORE_IO` for a file that could not be read, with the reason in words. */
function unreadable(what: string, file: string, err: unknown): RoutecoreError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
  return new RoutecoreError('ERR_ROUTECORE_IO', `cannot read ${what} "${file}": ${why}`, { cause: err });
}

/** Parses one line into an object, with the file:line prefix on failure. */
function parseObject(line: string, file: string, lineNo: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    let reason = (err as Error).message;
    // V8 quotes the offending input in its message; keep the message one short line.
    if (reason.length > MAX_JSON_REASON) reason = reason.slice(0, MAX_JSON_REASON) + '…';
    throw badData(file, lineNo, `not valid JSON (${reason})`, err);
  }
  if (!isPlainObject(value)) throw badData(file, lineNo, `expected a JSON object, got ${describe(value)}`);
  return value;
}

function readId(obj: Record<string, unknown>, file: string, lineNo: number): string {
  const id = obj['id'];
  if (id === undefined || id === null) return `${basename(file)}:${lineNo}`;
  if (typeof id === 'string' && id !== '') return id;
  // Some exports use numeric row ids; they identify the row just as well.
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  throw badData(file, lineNo, `"id" must be a non-empty string or a number, got ${describe(id)}`);
}

/** The arguments every public line parser takes, checked the same way. */
function checkLineArgs(line: unknown, file: unknown, lineNo: unknown): void {
  if (typeof line !== 'string') throw invalidArgument('line', 'a string', line);
  if (typeof file !== 'string') throw invalidArgument('file', 'a string', file);
  if (typeof lineNo !== 'number' || !Number.isSafeInteger(lineNo) || lineNo < 1) {
    throw invalidArgument('lineNo', 'a positive integer', lineNo);
  }
}

function readRequiredString(obj: Record<string, unknown>, field: string, file: string, lineNo: number): string {
  const v = obj[field];
  if (v === undefined || v === null) throw badData(file, lineNo, `missing "${field}" (a non-empty string)`);
  if (typeof v !== 'string' || v === '') throw badData(file, lineNo, `"${field}" must be a non-empty string, got ${describe(v)}`);
  return v;
}

/**
 * Parses and validates one outcome line (see docs/ARCHITECTURE.md "Data formats").
 * @param line the JSON text of one line
 * @param file the file name used in messages
 * @param lineNo the 1-based line number used in messages and in a default id
 * @throws RoutecoreError `ERR_ROUTECORE_BAD_DATA` with message `${file}:${lineNo}: <what is wrong>`
 */
export function parseOutcomeLine(line: string, file: string, lineNo: number): OutcomeRecord {
  checkLineArgs(line, file, lineNo);
  const obj = parseObject(line, file, lineNo);
  const id = readId(obj, file, lineNo);
  const prompt = readRequiredString(obj, 'prompt', file, lineNo);

  const task = obj['task'];
  if (task !== undefined && task !== null && typeof task !== 'string') {
    throw badData(file, lineNo, `"task" must be a string, got ${describe(task)}`);
  }

  const scores = obj['scores'];
  if (scores === undefined || scores === null) throw badData(file, lineNo, 'missing "scores" (an object of model id -> number)');
  if (!isPlainObject(scores)) {
    throw badData(file, lineNo, `"scores" must be an object of model id -> number, got ${describe(scores)}`);
  }
  let models = 0;
  for (const model in scores) {
    if (model === '') throw badData(file, lineNo, '"scores" has an empty model id');
    const s = scores[model];
    if (typeof s !== 'number' || Number.isNaN(s)) {
      throw badData(file, lineNo, `scores[${JSON.stringify(model)}] must be a number, got ${describe(s)}`);
    }
    if (s < 0 || s > 1) throw badData(file, lineNo, `scores[${JSON.stringify(model)}] = ${s} is outside [0,1]`);
    models++;
  }
  if (models === 0) throw badData(file, lineNo, '"scores" is empty; need the score of at least one model');

  const record: OutcomeRecord =
    typeof task === 'string'
      ? { id, task, prompt, scores: scores as Record<string, number> }
      : { id, prompt, scores: scores as Record<string, number> };

  const costs = obj['costs'];
  if (costs !== undefined && costs !== null) {
    if (!isPlainObject(costs)) {
      throw badData(file, lineNo, `"costs" must be an object of model id -> non-negative number, got ${describe(costs)}`);
    }
    for (const model in costs) {
      const c = costs[model];
      if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) {
        const shown = typeof c === 'number' ? String(c) : describe(c);
        throw badData(file, lineNo, `costs[${JSON.stringify(model)}] = ${shown} must be a non-negative number`);
      }
      // A cost for an unscored model is almost always a misspelt id in one of the two maps.
      if (!Object.hasOwn(scores, model)) {
        throw badData(file, lineNo, `costs[${JSON.stringify(model)}] names a model that has no entry in "scores"`);
      }
    }
    record.costs = costs as Record<string, number>;
  }
  return record;
}

/**
 * Parses and validates one pairwise preference line:
 * `{"id"?, "prompt", "model_a", "model_b", "winner": "model_a" | "model_b" | "tie"}`.
 * @throws RoutecoreError `ERR_ROUTECORE_BAD_DATA` with message `${file}:${lineNo}: <what is wrong>`
 */
export function parsePairwiseLine(line: string, file: string, lineNo: number): PairwiseRecord {
  checkLineArgs(line, file, lineNo);
  const obj = parseObject(line, file, lineNo);
  const id = readId(obj, file, lineNo);
  const prompt = readRequiredString(obj, 'prompt', file, lineNo);
  const modelA = readRequiredString(obj, 'model_a', file, lineNo);
  const modelB = readRequiredString(obj, 'model_b', file, lineNo);
  if (modelA === modelB) throw badData(file, lineNo, `"model_a" and "model_b" are the same model "${modelA}"`);
  const w = obj['winner'];
  let winner: PairwiseRecord['winner'];
  if (w === 'model_a' || w === 'model_b' || w === 'tie') winner = w;
  else if (w === 'tie (bothbad)') winner = 'tie';
  else throw badData(file, lineNo, `"winner" must be "model_a", "model_b" or "tie", got ${w === undefined ? 'nothing' : JSON.stringify(w)}`);
  return { id, prompt, modelA, modelB, winner };
}

function validateReadArgs(path: unknown, options: unknown): 'error' | 'skip' {
  if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a non-empty file path string', path);
  if (options === undefined) return 'error';
  if (!isPlainObject(options)) throw invalidArgument('options', 'an object or undefined', options);
  for (const key of Object.keys(options)) {
    if (key !== 'onBadRecord') throw invalidArgument(`options.${key}`, 'no such option (known: onBadRecord)', options[key]);
  }
  const mode = options['onBadRecord'];
  if (mode === undefined) return 'error';
  if (mode !== 'error' && mode !== 'skip') throw invalidArgument('options.onBadRecord', '"error" or "skip"', mode);
  return mode;
}

function readLines<T>(
  path: unknown,
  options: unknown,
  kind: string,
  parse: (line: string, file: string, lineNo: number) => T,
): { records: T[]; report: ReadReport } {
  const mode = validateReadArgs(path, options);
  const file = path as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw unreadable(`${kind} file`, file, err);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: T[] = [];
  const skipped: { line: number; reason: string }[] = [];
  let lines = 0;
  let start = 0;
  const n = text.length;
  while (start < n) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = n;
    lines++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--;
    const line = text.slice(start, stop);
    start = end + 1;
    if (line.trim() === '') continue;
    if (mode === 'error') {
      records.push(parse(line, file, lines));
    } else {
      try {
        records.push(parse(line, file, lines));
      } catch (err) {
        if (!(err instanceof RoutecoreError) || err.code !== 'ERR_ROUTECORE_BAD_DATA') throw err;
        skipped.push({ line: lines, reason: err.message });
      }
    }
  }
  if (records.length === 0 && skipped.length === 0) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${file}: no records (the file has no non-blank lines)`);
  }
  return { records, report: { file, lines, records: records.length, skipped } };
}

/**
 * Reads an outcome JSONL file synchronously (whole file at once; blank lines ignored).
 * @throws RoutecoreError `ERR_ROUTECORE_IO` when unreadable; `ERR_ROUTECORE_BAD_DATA` on the first bad
 *   line (mode `'error'`) or when the file holds no lines at all
 */
export function readOutcomes(path: string, options?: ReadOptions): { records: OutcomeRecord[]; report: ReadReport } {
  const log = new Map<string, { prompt: string; model: string | null; ok: boolean; score: number | undefined; cost: number | null }>();
  const feedback = new Map<string, number>();
  let logLines = 0;
  const parsed = readLines(path, options, 'outcome', (line, file, lineNo): OutcomeRecord | null => {
    if (!line.includes('"attempts"') && !(line.includes('"score"') && !line.includes('"scores"'))) return parseOutcomeLine(line, file, lineNo);
    const obj = parseObject(line, file, lineNo);
    if (!('attempts' in obj) && !('scores' in obj) && 'score' in obj && !('prompt' in obj)) {
      // A feedback line: {"id", "ts", "score"}; the latest one for an id wins.
      const id = readRequiredString(obj, 'id', file, lineNo);
      feedback.set(id, readScore(obj['score'], file, lineNo));
      logLines++;
      return null;
    }
    if (!('attempts' in obj)) return parseOutcomeLine(line, file, lineNo);
    const id = readRequiredString(obj, 'id', file, lineNo);
    const prompt = readRequiredString(obj, 'prompt', file, lineNo);
    const model = obj['model'];
    if (model !== null && (typeof model !== 'string' || model === '')) throw badData(file, lineNo, `"model" must be a model id or null, got ${describe(model)}`);
    const cost = obj['costUsd'];
    if (cost !== null && cost !== undefined && (typeof cost !== 'number' || !(cost >= 0))) throw badData(file, lineNo, `"costUsd" must be a non-negative number or null, got ${describe(cost)}`);
    const score = obj['score'] === undefined ? undefined : readScore(obj['score'], file, lineNo);
    log.set(id, { prompt, model: model as string | null, ok: obj['status'] === 'ok', score, cost: (cost as number | null | undefined) ?? null });
    logLines++;
    return null;
  });
  const records = parsed.records.filter((r): r is OutcomeRecord => r !== null);
  if (logLines === 0) return { records, report: parsed.report };
  let unscored = 0;
  for (const [id, o] of log) {
    const score = feedback.get(id) ?? o.score;
    if (!o.ok || o.model === null || score === undefined) {
      unscored++;
      continue;
    }
    const r: OutcomeRecord = { id, prompt: o.prompt, scores: { [o.model]: score } };
    if (o.cost !== null) r.costs = { [o.model]: o.cost };
    records.push(r);
  }
  let orphanFeedback = 0;
  for (const id of feedback.keys()) if (!log.has(id)) orphanFeedback++;
  return { records, report: { ...parsed.report, records: records.length, unscored, orphanFeedback } };
}

function readScore(v: unknown, file: string, lineNo: number): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw badData(file, lineNo, `"score" must be a number in [0,1], got ${describe(v)}`);
  return v;
}

/**
 * Reads a pairwise-preference JSONL file synchronously (whole file at once; blank lines ignored).
 * @throws RoutecoreError like {@link readOutcomes}
 */
export function readPairwise(path: string, options?: ReadOptions): { records: PairwiseRecord[]; report: ReadReport } {
  return readLines(path, options, 'pairwise', parsePairwiseLine);
}

/**
 * Which of the two formats a JSONL file holds, judged from its first non-blank line: `pairwise`
 * when that line is an object with a `model_a` field, else `outcome` (whose reader then reports
 * any bad line). Reads only the file's first 64 KiB.
 * @throws RoutecoreError `ERR_ROUTECORE_IO` when the file cannot be read
 */
export function sniffFormat(path: string): 'outcome' | 'pairwise' {
  if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a file path', path);
  let head: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      head = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw unreadable('data file', path, err);
  }
  const first = head.split('\n').find((l) => l.trim() !== '');
  if (first === undefined) return 'outcome';
  try {
    const obj: unknown = JSON.parse(first);
    return isPlainObject(obj) && 'model_a' in obj ? 'pairwise' : 'outcome';
  } catch {
    // A first line longer than the head, or bad JSON (the chosen reader will name the line).
    return /"model_a"\s*:/.test(first) ? 'pairwise' : 'outcome';
  }
}

/** Every model id that has a score in any record, in first-seen order. */
export function modelIdsOf(records: OutcomeRecord[]): string[] {
  if (!Array.isArray(records)) throw invalidArgument('records', 'an array of outcome records', records);
  const seen = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (!isPlainObject(r) || !isPlainObject(r.scores)) {
      throw invalidArgument(`records[${i}]`, 'an outcome record with a "scores" object', r);
    }
    for (const id in r.scores) seen.add(id);
  }
  return [...seen];
}
