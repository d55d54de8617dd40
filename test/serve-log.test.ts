/**
 * The outcome log on its own: batching, the JSONL form, feedback that races its row or belongs to
 * another replica, schema checks, exports across replicas' databases, and `routecore log export`'s
 * messages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { exportRecords } from '../src/serve/log-export.js';
import { JsonlLog, SqliteLog, loadSqlite, openLogDatabase, type LogRow } from '../src/serve/outcome-log.js';

const dir = mkdtempSync(join(tmpdir(), 'routecore-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function row(id: string, model: string | null, prompt: string | null, extra: Partial<LogRow> = {}): LogRow {
  return {
    id,
    ts: new Date().toISOString(),
    prompt,
    routed: 'big',
    model,
    attempts: model ? [{ model, status: 200, ms: 3 }] : [],
    usage: model ? { prompt_tokens: 10, completion_tokens: 5 } : null,
    costUsd: model ? 0.001 : null,
    latencyMs: 4.5,
    status: model ? 'ok' : 'error',
    httpStatus: model ? 200 : 502,
    policy: 'best',
    stream: false,
    key: 'team-a',
    requested: 'routecore',
    ...extra,
  };
}

const config = (path: string) => ({ kind: 'sqlite' as const, path, batchSize: 3, flushMs: 10_000, storePrompts: true });

describe('SqliteLog', () => {
  it('batches rows, writes them in one go when the batch fills, and recognises feedback for queued rows', async () => {
    const path = join(dir, 'a.sqlite');
    const log = new SqliteLog(config(path));
    log.write(row('r1', 'big', 'p1'));
    log.write(row('r2', 'small', 'p1'));
    expect(log.queued).toBe(2);
    expect(log.written).toBe(0);
    // Feedback racing its own (still queued) row is matched.
    expect(log.feedback('r1', 1)).toBe(true);
    await new Promise((r) => setImmediate(r));
    // 2 rows + 1 score reached the batch size: written on the next turn, off the caller's path.
    expect(log.written).toBe(2);
    expect(log.feedback('nope', 1)).toBe(false);
    expect(log.feedback('nope', 0.5, true)).toBe(false);
    log.write(row('r3', null, 'p2'));
    await log.close();
    const db = openLogDatabase(path, { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM outcomes').get() as { n: number }).n).toBe(3);
    expect((db.prepare('SELECT count(*) AS n FROM feedback').get() as { n: number }).n).toBe(2);
    db.close();
  });

  it('refuses a database from a newer routecore and a file that is not a log', () => {
    const path = join(dir, 'newer.sqlite');
    const Database = loadSqlite();
    const db = new Database(path);
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema', '99');");
    db.close();
    expect(() => openLogDatabase(path, { readonly: true })).toThrow(`${path}: log schema version 99; this routecore reads version 1 or older`);
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'not a database at all, just text that is long enough to be read as a header');
    expect(() => openLogDatabase(junk, { readonly: true })).toThrow(/is not a routecore log database|cannot open the log database/);
    expect(() => openLogDatabase(join(dir, 'missing.sqlite'), { readonly: true })).toThrow(/cannot open the log database .*missing\.sqlite/);
  });

  it('exports several replicas together, joining feedback recorded by another replica', async () => {
    const a = new SqliteLog(config(join(dir, 'replica-a.sqlite')));
    const b = new SqliteLog(config(join(dir, 'replica-b.sqlite')));
    a.write(row('x1', 'big', 'shared prompt'));
    b.write(row('x2', 'small', 'shared prompt', { costUsd: 0.0001 }));
    b.write(row('x3', 'small', null));
    a.flush();
    b.flush();
    // The client sent both scores to replica b (a load balancer does not care which replica answered).
    expect(b.feedback('x1', 0.9, true)).toBe(false);
    expect(b.feedback('x2', 0.2, true)).toBe(true);
    b.feedback('x3', 1, true);
    await a.close();
    await b.close();
    const paths = [join(dir, 'replica-a.sqlite'), join(dir, 'replica-b.sqlite')];
    const outcomes = exportRecords(paths, 'outcomes');
    expect(outcomes.summary).toEqual({ rows: 3, scored: 2, unanswered: 0, withoutPrompt: 1, withoutScore: 0, records: 1 });
    expect(JSON.parse(outcomes.lines[0]!)).toEqual({ id: 'x1', prompt: 'shared prompt', scores: { big: 0.9, small: 0.2 }, costs: { big: 0.001, small: 0.0001 } });
    const pairs = exportRecords(paths, 'pairwise');
    expect(JSON.parse(pairs.lines[0]!)).toEqual({ id: 'x1:0-1', prompt: 'shared prompt', model_a: 'big', model_b: 'small', winner: 'model_a' });
    const log = exportRecords(paths, 'log');
    expect(log.lines).toHaveLength(3);
    expect(JSON.parse(log.lines[0]!)).toMatchObject({ id: 'x1', model: 'big', score: 0.9, usage: { prompt_tokens: 10, completion_tokens: 5 }, httpStatus: 200 });
    expect(() => exportRecords([], 'outcomes')).toThrow('Expected at least one log database path for databases but received array of length 0');
    expect(() => exportRecords(paths, 'csv' as never)).toThrow('Expected outcomes, pairwise or log for format but received string "csv"');
  });

  it('keeps prompts out of the store when storePrompts is false', async () => {
    const path = join(dir, 'noprompt.sqlite');
    const log = new SqliteLog({ ...config(path), storePrompts: false });
    log.write(row('s1', 'big', 'a secret prompt'));
    await log.close();
    expect(readFileSync(path).includes(Buffer.from('a secret prompt'))).toBe(false);
  });
});

describe('JsonlLog', () => {
  it('writes DESIGN.md outcome objects and feedback lines', async () => {
    const path = join(dir, 'log.jsonl');
    const log = new JsonlLog({ kind: 'jsonl', path, batchSize: 100, flushMs: 10_000, storePrompts: true });
    log.write(row('j1', 'big', 'hello'));
    expect(log.feedback('j1', 0.5)).toBe(true);
    await log.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ id: 'j1', prompt: 'hello', routed: 'big', model: 'big', costUsd: 0.001, latencyMs: 4.5, status: 'ok' });
    expect(lines[1]).toMatchObject({ type: 'feedback', id: 'j1', score: 0.5 });
  });
});

const cli = join(resolve(__dirname, '..'), 'dist', 'src', 'cli', 'main.js');
describe.skipIf(!existsSync(cli))('routecore log export (CLI)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  it('names what is missing or wrong', () => {
    const none = run(['log', 'export', '--format', 'outcomes']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('log export needs --db LOG.sqlite (repeatable: one per replica)');
    const fmt = run(['log', 'export', '--db', join(dir, 'a.sqlite'), '--format', 'csv']);
    expect(fmt.stderr).toContain('--format expects outcomes, pairwise or log, got "csv"');
    const sub = run(['log', 'show']);
    expect(sub.stderr).toContain('log expects the subcommand "export", got "show"');
  }, 120_000);

  it('writes the records and says what it skipped', () => {
    const out = join(dir, 'cli-export.jsonl');
    const r = run(['log', 'export', '--db', join(dir, 'replica-a.sqlite'), '--db', join(dir, 'replica-b.sqlite'), '--format', 'outcomes', '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('routecore log export: 1 outcomes records from 3 rows (2 scored; skipped 0 unanswered, 1 without a stored prompt, 0 without feedback)');
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(1);
    const empty = run(['log', 'export', '--db', join(dir, 'noprompt.sqlite'), '--format', 'outcomes']);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('no outcomes records: training needs answered requests with feedback');
  }, 120_000);
});
