/**
 * A gateway reads the judged pairs of its earlier runs back from its log at start
 * (`LearningService.restored`). The read happens after the constructor returns and yields to the event
 * loop while it streams, so requests are answered meanwhile; it gives the same pairs as the whole-file
 * reader, for both log kinds, and a log it cannot read is said once, as a warning.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { LearningService } from '../src/learning/service.js';
import { Registry } from '../src/routing/registry.js';
import { openGatewayLog } from '../src/serve/outcome-log.js';
import { MemoryState } from '../src/state/memory.js';
import { type Judgment, readJudgmentsAsync, readLearningLog } from '../src/training/judged-pairs.js';

const dir = mkdtempSync(join(tmpdir(), 'routecore-restore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const registry = Registry.fromObject({
  models: [
    { id: 'big', baseUrl: 'http://127.0.0.1:9/v1', inputCostPer1M: 10, outputCostPer1M: 30 },
    { id: 'small', baseUrl: 'http://127.0.0.1:9/v1', inputCostPer1M: 1, outputCostPer1M: 2 },
  ],
});

function judgment(i: number): Judgment {
  return {
    type: 'judgment',
    id: `rc-${i}`,
    // Written out of time order on purpose: every reader returns them oldest first.
    ts: new Date(Date.UTC(2026, 0, 1, 0, 0, (i * 7) % 60, i)).toISOString(),
    served: 'small',
    comparison: 'big',
    judge: 'judge',
    template: 'default',
    verdict: i % 3 === 0 ? 'comparison' : 'tie',
    raw: ['[[C]]', '[[C]]'],
    sample: 'uniform',
    probability: 0.5,
    strong: 'big',
    cheaper: 'small',
    routeScore: 0.4,
    servedCostUsd: 0.001,
    comparisonCostUsd: 0.01,
    judgeCostUsd: 0.002,
  };
}

/** A JSONL log of `outcomes` outcome lines (long prompts: the file spans many read chunks) with `judged` judgment lines among them. */
function jsonlLog(name: string, outcomes: number, judged: number): string {
  const path = join(dir, name);
  const lines: string[] = [];
  const every = Math.floor(outcomes / judged);
  for (let i = 0; i < outcomes; i++) {
    lines.push(JSON.stringify({ id: `rc-${i}`, ts: '2026-01-01T00:00:00.000Z', prompt: `question ${i}: ${'lorem ipsum dolor sit amet '.repeat(12)}`, routed: 'small', model: 'small', status: 'ok', costUsd: 0.001 }));
    if (i % every === 0 && i / every < judged) lines.push(JSON.stringify(judgment(i / every)));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function service(logPath: string, printed: string[] = []): LearningService {
  return new LearningService({
    router: () => {
      throw new Error('no router needed without shadow judging');
    },
    registry: () => registry,
    state: new MemoryState(),
    optOutKeys: [],
    writeJudgment: () => undefined,
    logPath,
    print: (line, level) => void printed.push(`${level ?? 'info'}: ${line}`),
  });
}

describe('LearningService: judged pairs read back at start', () => {
  it('reads a JSONL log after the constructor returns, between turns of the event loop, giving the whole-file reader\'s pairs', async () => {
    const path = jsonlLog('big.jsonl', 6000, 40);
    appendFileSync(path, '{"type":"judgment","id":"torn'); // the process died mid-write: not data
    const order: string[] = [];
    const s = service(path);
    // Whatever the constructor did, it did not read the pairs.
    expect(s.live.snapshot({ cooldowns: [], shadow: { enabled: false }, learn: { enabled: false, running: false, last: null } }).judged).toBe(0);
    let over = false;
    const done = s.restored.then(() => {
      over = true;
      order.push('restored');
    });
    // A callback queued now runs before the read is over: the read gives the loop back while it streams
    // (a whole-file read deferred by one turn would finish first: its promise settles between two callbacks).
    setImmediate(() => order.push('event loop turn'));
    // And it keeps giving it back: the 2.5 MB file is read chunk by chunk, turns of the loop between them.
    let turns = 0;
    const tick = () => {
      if (over) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    await done;
    expect(order).toEqual(['event loop turn', 'restored']);
    expect(turns).toBeGreaterThan(5);
    const stats = await s.stats();
    expect(stats.judged).toBe(40);
    const whole = readLearningLog(path, { withPrompts: false }).judgments.map(({ prompt: _p, ...j }) => j);
    expect(whole).toHaveLength(40);
    expect(await readJudgmentsAsync(path)).toEqual(whole);
    await s.close();
  });

  it('reads a SQLite log written by the gateway\'s own writer, a page at a time', async () => {
    const path = join(dir, 'log.sqlite');
    const log = openGatewayLog({ kind: 'sqlite', path, batchSize: 1000, flushMs: 10, storePrompts: true });
    // More rows than one page of the table read (500).
    for (let i = 0; i < 1203; i++) log.judgment(judgment(i));
    log.flush();
    await log.close();
    const s = service(path);
    await s.restored;
    expect((await s.stats()).judged).toBe(1203);
    const whole = readLearningLog(path, { withPrompts: false }).judgments.map(({ prompt: _p, ...j }) => j);
    expect(await readJudgmentsAsync(path)).toEqual(whole);
    await s.close();
  });

  it('says once, as a warning, that a log with a broken judgment line could not be read, and serves on with no pairs', async () => {
    const path = jsonlLog('broken.jsonl', 50, 5);
    const bad = { ...judgment(99), verdict: 'maybe' };
    appendFileSync(path, `${JSON.stringify(bad)}\n${JSON.stringify(judgment(100))}\n`);
    const printed: string[] = [];
    const s = service(path, printed);
    await s.restored;
    expect(printed).toEqual([`warn: could not read the judged pairs back from ${path}: ${path}:56: judgment field "verdict" must be "served", "comparison" or "tie", got string "maybe"`]);
    expect((await s.stats()).judged).toBe(0);
    const torn = join(dir, 'torn-middle.jsonl');
    writeFileSync(torn, `${JSON.stringify(judgment(1))}\n{"type":"judgment", "id": \n${JSON.stringify(judgment(2))}\n`);
    await expect(readJudgmentsAsync(torn)).rejects.toMatchObject({ code: 'ERR_ROUTECORE_BAD_DATA', message: expect.stringContaining(`${torn}:2: not valid JSON`) });
    await s.close();
  });

  it('has nothing to read without a log file, and says nothing', async () => {
    const printed: string[] = [];
    const s = service(join(dir, 'none-yet.sqlite'), printed);
    await s.restored;
    expect((await s.stats()).judged).toBe(0);
    expect(printed).toEqual([]);
    await s.close();
  });
});
