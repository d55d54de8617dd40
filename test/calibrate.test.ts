/**
 * `routecore calibrate` on prompt-only traffic (no scores), and --strong/--weak for N-model routers.
 * Runs the built CLI (dist/); skipped with a message when it is not built.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readPrompts } from '../src/cli/calibrate.js';
import { Router } from '../src/app/router.js';

const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping calibrate CLI tests: ${cli} is missing (run \`npm run build:ts\`)`);
const dir = mkdtempSync(join(tmpdir(), 'routecore-calibrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
}

const PROMPTS = ['What is 2+2?', 'Prove the Cauchy-Schwarz inequality.', 'Name a colour.', 'Derive the Black-Scholes equation.', 'Say hi.', 'Explain quantum entanglement to a physicist.', 'Spell cat.', 'Write a parser for JSON in C.'];

describe('readPrompts', () => {
  it('reads prompt records, chat bodies, outcome-log lines, JSON strings and plain text', () => {
    const f = join(dir, 'mixed.jsonl');
    writeFileSync(
      f,
      [
        JSON.stringify({ prompt: 'from a record' }),
        JSON.stringify({ messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'from a chat body' }] }),
        JSON.stringify({ id: 'x', ts: 't', prompt: 'from a log line', routed: 'a', model: 'a', attempts: [] }),
        JSON.stringify('from a JSON string'),
        'plain text line',
        '',
      ].join('\n'),
    );
    expect(readPrompts(f)).toEqual(['from a record', 'from a chat body', 'from a log line', 'from a JSON string', 'plain text line']);
  });

  it('names the file and line of a bad line', () => {
    const f = join(dir, 'bad.jsonl');
    writeFileSync(f, 'ok\n{"messages": []}\n');
    expect(() => readPrompts(f)).toThrow(`${f}:2: request.messages is empty: a conversation needs at least one user turn`);
    writeFileSync(f, 'ok\n{"nothing": 1}\n');
    expect(() => readPrompts(f)).toThrow(`${f}:2: expected a prompt: an object with "prompt" or "messages", a JSON string, or plain text`);
  });
});

describe.skipIf(!built)('routecore calibrate', () => {
  it('calibrates on prompts without scores and the saved router sends that share to strong', () => {
    const data = join(dir, 'traffic.txt');
    writeFileSync(data, PROMPTS.join('\n') + '\n');
    const out = join(dir, 'calibrated.router');
    const r = run(['calibrate', '--data', data, '--strong-share', '0.25', '--out', out]);
    expect(r.stderr).toMatch(/^threshold \d\.\d{6} sends 25\.0% of 8 prompts to strong \(weak: weak\); wrote /);
    expect(r.status).toBe(0);
    const router = Router.loadSync(out, { policy: 'threshold' });
    try {
      const strong = PROMPTS.filter((p) => router.routeSync(p).model === 'strong').length;
      expect(strong).toBe(2);
    } finally {
      router.dispose();
    }
  });

  it('takes --strong/--weak and refuses one without the other', () => {
    const data = join(dir, 'traffic2.txt');
    writeFileSync(data, PROMPTS.join('\n'));
    const out = join(dir, 'c2.router');
    const ok = run(['calibrate', '--data', data, '--strong-share', '0.5', '--strong', 'weak', '--weak', 'strong', '--out', out]);
    expect(ok.stderr).toMatch(/sends 50\.0% of 8 prompts to weak \(weak: strong\)/);
    expect(ok.status).toBe(0);
    const half = run(['calibrate', '--data', data, '--strong-share', '0.5', '--strong', 'weak', '--out', out]);
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/^routecore: calibrate takes --strong and --weak together/);
    const bad = run(['calibrate', '--data', data, '--strong-share', '0.5', '--strong', 'gpt', '--weak', 'strong', '--out', out]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/Expected one of the router's models \(strong, weak\) for options.threshold.strong but received string "gpt" \[ERR_ROUTECORE_INVALID_ARGUMENT\]/);
    const share = run(['calibrate', '--data', data, '--strong-share', '2', '--out', out]);
    expect(share.status).toBe(2);
    expect(share.stderr).toMatch(/--strong-share expects a number from 0 to 1, got "2"/);
  });
});
