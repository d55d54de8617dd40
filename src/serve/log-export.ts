/**
 * `routecore log export`: turns gateway log databases into the training records `routecore train`
 * reads (DESIGN.md "Data formats").
 *
 * - `outcomes`: one record per distinct prompt that received feedback; `scores[model]` is the mean
 *   score the model's answers to that prompt received, `costs[model]` the mean USD they cost.
 * - `pairwise`: one record per pair of models that both answered the same prompt and were both scored;
 *   the higher mean score wins, equal scores tie.
 * - `log`: every row as a DESIGN.md outcome-log object (with the latest score when there is one).
 *
 * Several databases (one per replica) can be exported together; feedback recorded by one replica for a
 * request another replica served is joined by request id. Rows without a prompt (refused requests, or
 * `storePrompts: false`) and rows without a score are not training data; the summary says how many.
 * @module
 */
import { writeFileSync } from 'node:fs';

import { RoutecoreError, invalidArgument } from '../errors.js';
import { openLogDatabase } from './outcome-log.js';

/** What `log export` can write. */
export type ExportFormat = 'outcomes' | 'pairwise' | 'log';

/** What an export wrote and skipped. */
export interface ExportSummary {
  /** Rows read from every database. */
  rows: number;
  /** Rows that had an answering model, a prompt and a score. */
  scored: number;
  /** Rows skipped because no model answered. */
  unanswered: number;
  /** Answered rows without a stored prompt. */
  withoutPrompt: number;
  /** Answered rows with a prompt but no feedback. */
  withoutScore: number;
  /** Records written. */
  records: number;
}

interface Row {
  id: string;
  ts: string;
  prompt: string | null;
  routed: string | null;
  model: string | null;
  attempts: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  usage_estimated: number | null;
  cost_usd: number | null;
  latency_ms: number;
  status: string;
  http_status: number;
  policy: string | null;
  stream: number;
  error: string | null;
  session: string | null;
  client_key: string | null;
  requested: string | null;
}

/** Reads the databases and returns the export's lines (without newlines) and what was skipped. */
export function exportRecords(databases: readonly string[], format: ExportFormat): { lines: string[]; summary: ExportSummary } {
  if (!Array.isArray(databases) || databases.length === 0) throw invalidArgument('databases', 'at least one log database path', databases);
  if (format !== 'outcomes' && format !== 'pairwise' && format !== 'log') throw invalidArgument('format', 'outcomes, pairwise or log', format);
  const dbs = databases.map((p) => ({ path: p, db: openLogDatabase(p, { readonly: true }) }));
  try {
    // Latest score per id, across every database (feedback may reach any replica).
    const latest = new Map<string, { ts: string; score: number }>();
    for (const { db } of dbs) {
      for (const f of db.prepare('SELECT id, ts, score FROM feedback ORDER BY seq').iterate() as IterableIterator<{ id: string; ts: string; score: number }>) {
        const prev = latest.get(f.id);
        if (!prev || prev.ts <= f.ts) latest.set(f.id, { ts: f.ts, score: f.score });
      }
    }
    const summary: ExportSummary = { rows: 0, scored: 0, unanswered: 0, withoutPrompt: 0, withoutScore: 0, records: 0 };
    const lines: string[] = [];
    // prompt -> model -> sums, in first-seen order so that exports are reproducible.
    const groups = new Map<string, { id: string; byModel: Map<string, { score: number; n: number; cost: number; costN: number }> }>();
    for (const { db } of dbs) {
      for (const r of db.prepare('SELECT * FROM outcomes ORDER BY seq').iterate() as IterableIterator<Row>) {
        summary.rows++;
        const fb = latest.get(r.id);
        if (format === 'log') {
          lines.push(JSON.stringify(logObject(r, fb?.score)));
          continue;
        }
        if (r.model === null || r.status !== 'ok') {
          summary.unanswered++;
          continue;
        }
        if (r.prompt === null || r.prompt === '') {
          summary.withoutPrompt++;
          continue;
        }
        if (!fb) {
          summary.withoutScore++;
          continue;
        }
        summary.scored++;
        let g = groups.get(r.prompt);
        if (!g) {
          g = { id: r.id, byModel: new Map() };
          groups.set(r.prompt, g);
        }
        let m = g.byModel.get(r.model);
        if (!m) {
          m = { score: 0, n: 0, cost: 0, costN: 0 };
          g.byModel.set(r.model, m);
        }
        m.score += fb.score;
        m.n++;
        if (r.cost_usd !== null) {
          m.cost += r.cost_usd;
          m.costN++;
        }
      }
    }
    if (format === 'outcomes') {
      for (const [prompt, g] of groups) {
        const scores: Record<string, number> = {};
        const costs: Record<string, number> = {};
        for (const [model, m] of g.byModel) {
          scores[model] = m.score / m.n;
          if (m.costN > 0) costs[model] = m.cost / m.costN;
        }
        const rec: Record<string, unknown> = { id: g.id, prompt, scores };
        if (Object.keys(costs).length > 0) rec['costs'] = costs;
        lines.push(JSON.stringify(rec));
      }
    } else if (format === 'pairwise') {
      for (const [prompt, g] of groups) {
        const models = [...g.byModel.entries()];
        for (let a = 0; a < models.length; a++) {
          for (let b = a + 1; b < models.length; b++) {
            const sa = models[a]![1].score / models[a]![1].n;
            const sb = models[b]![1].score / models[b]![1].n;
            const winner = sa > sb ? 'model_a' : sa < sb ? 'model_b' : 'tie';
            lines.push(JSON.stringify({ id: `${g.id}:${a}-${b}`, prompt, model_a: models[a]![0], model_b: models[b]![0], winner }));
          }
        }
      }
    }
    summary.records = lines.length;
    return { lines, summary };
  } finally {
    for (const { db } of dbs) db.close();
  }
}

/** One row as a DESIGN.md outcome-log object. */
function logObject(r: Row, score: number | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: r.id,
    ts: r.ts,
    prompt: r.prompt,
    routed: r.routed,
    model: r.model,
    attempts: JSON.parse(r.attempts) as unknown,
    usage: r.prompt_tokens === null ? null : { prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens ?? 0, ...(r.usage_estimated ? { estimated: true } : {}) },
    costUsd: r.cost_usd,
    latencyMs: r.latency_ms,
    status: r.status,
    httpStatus: r.http_status,
    policy: r.policy,
    stream: r.stream === 1,
    key: r.client_key,
    requested: r.requested,
  };
  if (r.error !== null) o['error'] = r.error;
  if (r.session !== null) o['session'] = r.session;
  if (score !== undefined) o['score'] = score;
  return o;
}

/** Writes an export to `out` (or returns the text when `out` is undefined). */
export function writeExport(databases: readonly string[], format: ExportFormat, out: string | undefined): { text: string; summary: ExportSummary } {
  const { lines, summary } = exportRecords(databases, format);
  const text = lines.length === 0 ? '' : lines.join('\n') + '\n';
  if (out !== undefined) {
    try {
      writeFileSync(out, text);
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot write ${out}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { text, summary };
}
