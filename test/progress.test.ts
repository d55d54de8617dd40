// The one progress display of the long commands (src/cli/progress.ts): what it writes when stderr is
// not a terminal (logs, CI, pipes) and when it is.
import { describe, expect, it } from 'vitest';

import { ProgressBar, autoProgress, progressCallback } from '../src/cli/progress.js';

function sink(isTTY: boolean): { isTTY: boolean; write(t: string): void; text: () => string } {
  const parts: string[] = [];
  return { isTTY, write: (t: string) => void parts.push(t), text: () => parts.join('') };
}

describe('ProgressBar off a terminal', () => {
  it('writes a line when the share done enters a new tenth, and the last one', () => {
    const s = sink(false);
    const bar = new ProgressBar('scoring', { stream: s, unit: 'prompts' });
    for (let i = 0; i <= 40; i++) bar.update(i, 40);
    const lines = s.text().split('\n').filter(Boolean);
    expect(lines[0]).toBe('scoring: 0/40 prompts (0%)');
    expect(lines[1]).toBe('scoring: 4/40 prompts (10%)');
    expect(lines.at(-1)).toBe('scoring: 40/40 prompts (100%)');
    expect(lines).toHaveLength(11);
    expect(s.text()).not.toContain('\r');
  });

  it('in step mode writes every update with its detail, and end() adds nothing', () => {
    const s = sink(false);
    const bar = new ProgressBar('epoch', { stream: s, lines: 'step' });
    bar.update(1, 5, 'train loss 0.5000');
    bar.update(2, 5, 'train loss 0.4000');
    bar.end();
    bar.update(3, 5, 'ignored after end');
    expect(s.text()).toBe('epoch: 1/5 (20%): train loss 0.5000\nepoch: 2/5 (40%): train loss 0.4000\n');
  });

  it('end() before the first update does nothing and the bar still draws', () => {
    const s = sink(false);
    const bar = new ProgressBar('learn: candidate training', { stream: s, unit: 'epochs' });
    bar.end();
    bar.update(10, 10);
    expect(s.text()).toBe('learn: candidate training: 10/10 epochs (100%)\n');
  });

  it('a zero total counts as done; updates after the end are ignored', () => {
    const s = sink(false);
    const cb = progressCallback('folds', { stream: s });
    cb(0, 0);
    cb(0, 0);
    expect(s.text()).toBe('folds: 0/0 (100%)\n');
  });

  it('train --auto: one bar per phase, the cv phase with its eta', () => {
    const s = sink(false);
    const on = autoProgress(s, 'x --auto: ');
    for (let d = 1; d <= 4; d++) on({ phase: 'cv', done: d, total: 4, elapsedS: d * 2, label: `lin fold ${d}/4` });
    on({ phase: 'select', done: 1, total: 1, elapsedS: 9, label: 'lin' });
    on({ phase: 'final', done: 1, total: 2, elapsedS: 10, label: 'lin final' });
    on({ phase: 'final', done: 2, total: 2, elapsedS: 11, label: 'lin final' });
    expect(s.text().split('\n').filter(Boolean)).toEqual([
      'x --auto: cross-validation: 1/4 jobs (25%): 2 s, eta 6 s, lin fold 1/4',
      'x --auto: cross-validation: 2/4 jobs (50%): 4 s, eta 4 s, lin fold 2/4',
      'x --auto: cross-validation: 3/4 jobs (75%): 6 s, eta 2 s, lin fold 3/4',
      'x --auto: cross-validation: 4/4 jobs (100%): 8 s, eta 0 s, lin fold 4/4',
      'x --auto: scoring candidates: 1/1 candidates (100%): 9 s, lin',
      'x --auto: final training: 1/2 jobs (50%): 10 s, lin final',
      'x --auto: final training: 2/2 jobs (100%): 11 s, lin final',
    ]);
  });
});

describe('ProgressBar on a terminal', () => {
  it('redraws one line in place and ends it with a newline when done', () => {
    const s = sink(true);
    const bar = new ProgressBar('folds', { stream: s });
    bar.update(1, 2);
    bar.update(2, 2);
    expect(s.text()).toBe(`\r\x1b[Kfolds [${'#'.repeat(15)}${'.'.repeat(15)}] 1/2  50%\r\x1b[Kfolds [${'#'.repeat(30)}] 2/2 100%\n`);
  });

  it('end() closes a line left open by work that stopped early', () => {
    const s = sink(true);
    const bar = new ProgressBar('epoch', { stream: s, lines: 'step' });
    bar.update(3, 100, 'validation loss 0.1');
    bar.end();
    bar.end();
    expect(s.text().endsWith('validation loss 0.1\n')).toBe(true);
    expect(s.text().split('\n')).toHaveLength(2);
  });
});
