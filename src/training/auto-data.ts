/**
 * Training data for `train --auto`: benchmark outcome files, pairwise files and the outcome log of
 * live traffic (DESIGN.md "Outcome log"), mixed, each file with a weight.
 *
 * - **Outcome records** are used as they are.
 * - **Pairwise records** become outcome records: the winner scores 1 and the loser 0 on that
 *   prompt, a tie ½ each (so battles and per-model scores train one router).
 * - **Outcome-log lines** (`{"id", "ts", "prompt" | "messages", "routed", "model", "attempts", …,
 *   "costUsd", "score"?}`) become one outcome record each: `scores = {model: score}`, `costs =
 *   {model: costUsd}`. The prompt is `prompt`, else the text of `messages` (string contents and the
 *   `text` of text parts, joined by newlines). A line without `score` (no feedback yet) teaches
 *   nothing about quality: it is skipped and counted, not an error.
 * - **Weights** (default 1) are applied by repeating records: a record of a file with weight w is
 *   used ⌊w⌋ times, plus once more when `fnv1a32("weight/" + id) / 2^32 < w − ⌊w⌋`. So 0.5 keeps
 *   about half the file's records, 2 doubles them, and the choice is the same on every run. Copies
 *   share their id, hence their cross-validation fold.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

import { RoutecoreError, describe, invalidArgument, isPlainObject } from '../errors.js';
import { fnv1a32 } from './hash.js';
import { readOutcomes, readPairwise, sniffFormat, type OutcomeRecord, type PairwiseRecord } from './data.js';
import { isSqliteFile, logTrainingRecords } from './judged-pairs.js';

/** One `--data` file and its weight. */
export interface DataSpec {
  path: string;
  /** Non-negative; default 1. */
  weight?: number;
}

/** What each file contributed. */
export interface DataFileReport {
  file: string;
  format: 'outcome' | 'pairwise' | 'outcome-log';
  weight: number;
  /** Records read from the file (before weighting). */
  records: number;
  /** Records used after weighting. */
  used: number;
  /** Outcome-log lines without a score (skipped). */
  unscored: number;
}

/**
 * Parses a CLI `--data` value: `F.jsonl` or `F.jsonl:W` (W a number ≥ 0). A path that exists as
 * given is taken whole, so a file name containing a colon still works.
 */
export function parseDataSpec(value: string, defaultWeight = 1): DataSpec {
  if (typeof value !== 'string' || value === '') throw invalidArgument('--data', 'a file path, optionally followed by :WEIGHT', value);
  const k = value.lastIndexOf(':');
  if (k > 0 && !existsSync(value)) {
    const w = value.slice(k + 1);
    const n = Number(w);
    if (w.trim() !== '' && Number.isFinite(n)) {
      if (n < 0) throw invalidArgument(`--data ${value}`, 'a weight >= 0 after the colon', w);
      return { path: value.slice(0, k), weight: n };
    }
  }
  return { path: value, weight: defaultWeight };
}

/** Pairwise battles as outcome records (winner 1, loser 0, tie ½ each). */
export function battlesToOutcomes(battles: readonly PairwiseRecord[]): OutcomeRecord[] {
  return battles.map((b) => {
    const a = b.winner === 'model_a' ? 1 : b.winner === 'model_b' ? 0 : 0.5;
    return { id: b.id, prompt: b.prompt, scores: { [b.modelA]: a, [b.modelB]: 1 - a } };
  });
}

/** The text of a chat `messages` array: string contents and text parts, joined by newlines. */
export function messagesText(messages: unknown, where: string): string {
  if (!Array.isArray(messages)) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: "messages" must be an array, got ${describe(messages)}`);
  const parts: string[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as { content?: unknown } | null;
    if (typeof m !== 'object' || m === null) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: messages[${i}] must be an object, got ${describe(m)}`);
    const c = m.content;
    if (typeof c === 'string') parts.push(c);
    else if (Array.isArray(c)) {
      for (const p of c) if (typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string') parts.push((p as { text: string }).text);
    }
  }
  return parts.join('\n');
}

/** True when a parsed first line looks like an outcome-log entry rather than an outcome record. */
function isLogLine(obj: Record<string, unknown>): boolean {
  return !('scores' in obj) && typeof obj['model'] === 'string' && ('attempts' in obj || 'routed' in obj || 'messages' in obj);
}

/** Reads outcome-log lines (see the module notes); returns the scored ones and the count of unscored. */
export function readOutcomeLog(path: string): { records: OutcomeRecord[]; unscored: number; lines: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read outcome log "${path}": ${(err as Error).message}`, { cause: err });
  }
  const records: OutcomeRecord[] = [];
  let unscored = 0;
  const lines = text.split('\n');
  lines.forEach((line, k) => {
    const lineNo = k + 1;
    if (line.trim() === '') return;
    const where = `${path}:${lineNo}`;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: not valid JSON (${(err as Error).message.slice(0, 120)})`, { cause: err });
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: expected a JSON object, got ${describe(obj)}`);
    // Judged pairs and separate feedback lines are read by judged-pairs.ts (loadTrainingData adds them).
    if (obj['type'] === 'judgment' || obj['type'] === 'feedback' || (!('model' in obj) && typeof obj['score'] === 'number')) return;
    const model = obj['model'];
    if (typeof model !== 'string' || model === '') throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: "model" (the model that answered) must be a non-empty string, got ${describe(model)}`);
    const score = obj['score'];
    if (score === undefined || score === null) {
      unscored++;
      return;
    }
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: "score" must be a number in [0,1], got ${describe(score)}`);
    let prompt: string;
    if (typeof obj['prompt'] === 'string') prompt = obj['prompt'];
    else if (obj['messages'] !== undefined) prompt = messagesText(obj['messages'], where);
    else throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: needs "prompt" (a string) or "messages" (the chat messages)`);
    if (prompt === '') throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: the prompt is empty`);
    const idRaw = obj['id'];
    const id = typeof idRaw === 'string' && idRaw !== '' ? idRaw : typeof idRaw === 'number' ? String(idRaw) : `${basename(path)}:${lineNo}`;
    const rec: OutcomeRecord = { id, prompt, scores: { [model]: score } };
    const cost = obj['costUsd'];
    if (cost !== undefined && cost !== null) {
      if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${where}: "costUsd" must be a non-negative number, got ${describe(cost)}`);
      rec.costs = { [model]: cost };
    }
    if (typeof obj['task'] === 'string') rec.task = obj['task'];
    records.push(rec);
  });
  return { records, unscored, lines: lines.length };
}

function sniffLog(path: string): boolean {
  let first: string | undefined;
  try {
    const text = readFileSync(path, 'utf8');
    first = text.slice(0, 1 << 16).split('\n').find((l) => l.trim() !== '');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read data file "${path}": ${(err as Error).message}`, { cause: err });
  }
  if (first === undefined) return false;
  try {
    const o: unknown = JSON.parse(first);
    return isPlainObject(o) && isLogLine(o);
  } catch {
    return false;
  }
}

/** How many times a record of a file with weight `w` is used (see the module notes). */
export function copiesOf(id: string, w: number): number {
  const whole = Math.floor(w);
  const frac = w - whole;
  return whole + (frac > 0 && fnv1a32(`weight/${id}`) / 2 ** 32 < frac ? 1 : 0);
}

/** Applies a weight to records by deterministic repetition. */
export function weightRecords(records: readonly OutcomeRecord[], w: number): OutcomeRecord[] {
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw invalidArgument('weight', 'a finite number >= 0', w);
  if (w === 1) return [...records];
  const out: OutcomeRecord[] = [];
  for (const r of records) for (let c = copiesOf(r.id, w); c > 0; c--) out.push(r);
  return out;
}

/** Reads every file (any of the three formats, recognised per file) and applies the weights. */
export function loadTrainingData(specs: readonly DataSpec[]): { records: OutcomeRecord[]; files: DataFileReport[] } {
  if (!Array.isArray(specs) || specs.length === 0) throw invalidArgument('data', 'at least one data file', specs);
  const records: OutcomeRecord[] = [];
  const files: DataFileReport[] = [];
  for (const s of specs) {
    const w = s.weight ?? 1;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw invalidArgument(`weight of ${s.path}`, 'a finite number >= 0', w);
    let recs: OutcomeRecord[];
    let format: DataFileReport['format'];
    let unscored = 0;
    if (isSqliteFile(s.path)) {
      // The gateway's SQLite log: feedback and judged pairs, joined to their prompts.
      format = 'outcome-log';
      recs = logTrainingRecords(s.path).records;
    } else if (sniffFormat(s.path) === 'pairwise') {
      format = 'pairwise';
      recs = battlesToOutcomes(readPairwise(s.path).records);
    } else if (sniffLog(s.path)) {
      format = 'outcome-log';
      const r = readOutcomeLog(s.path);
      recs = [...r.records, ...logTrainingRecords(s.path, true).records];
      unscored = r.unscored;
    } else {
      format = 'outcome';
      recs = readOutcomes(s.path).records;
    }
    const used = weightRecords(recs, w);
    files.push({ file: s.path, format, weight: w, records: recs.length, used: used.length, unscored });
    for (const r of used) records.push(r);
  }
  if (records.length === 0) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `no training records in ${specs.map((s) => s.path).join(', ')} (${files.map((f) => `${basename(f.file)}: ${f.records} read, ${f.used} used${f.unscored ? `, ${f.unscored} without score` : ''}`).join('; ')})`);
  }
  return { records, files };
}
