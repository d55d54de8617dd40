import { describe, expect, it } from 'vitest';
import type { OutcomeRecord } from '../src/training/data.js';
import { evaluateScores } from '../src/evaluation/eval.js';
import { cvKnownTask, difficultyBin, groupMeans, splitCeilings } from '../scripts/ceilings.js';

const models = ['a', 'b'];
const rec = (id: string, task: string, a: number, b: number): OutcomeRecord => ({ id, task, prompt: id, scores: { a, b } });

describe('results-page ceilings', () => {
  // Training split: on task x model a wins on easy prompts, b on hard ones, a on average;
  // on task y b always wins.
  const train = [
    rec('t1', 'x', 1, 0.8), // mean 0.9: easy
    rec('t2', 'x', 1, 0.9),
    rec('t3', 'x', 0, 0.2), // mean 0.1: hard
    rec('t4', 'y', 0.2, 0.6),
  ];
  // Test split: on task x model b now wins on average (a test-only fact).
  const test = [rec('s1', 'x', 1, 0.8), rec('s2', 'x', 0, 0.3), rec('s3', 'x', 0, 0.3), rec('s4', 'y', 0.1, 0.5), rec('s5', 'z', 0.9, 0.1)];

  it('groups means per model and skips missing scores', () => {
    const m = groupMeans([...train, { id: 'm', task: 'y', prompt: 'm', scores: { a: 0.4 } }], models, (r) => r.task ?? '');
    expect([...m.get('x')!].map((v) => +v.toFixed(6))).toEqual([0.666667, 0.633333]);
    expect([...m.get('y')!].map((v) => +v.toFixed(6))).toEqual([0.3, 0.6]);
    expect(difficultyBin(train[0]!, models, 10)).toBe(9);
    expect(difficultyBin(rec('p', 'x', 1, 1), models, 10)).toBe(9);
    expect(difficultyBin(train[2]!, models, 10)).toBe(1);
  });

  it('known task picks each task\'s training-best model; unknown tasks get the overall training means', () => {
    const [known, withDifficulty, oracle] = splitCeilings(train, test, models);
    const r = evaluateScores(models, known!.scores, test);
    // x -> a (train mean 0.667 vs 0.633), y -> b, z (not in training) -> overall a 0.55 vs b 0.625 -> b
    expect(r.router.best.quality).toBeCloseTo((1 + 0 + 0 + 0.5 + 0.1) / 5, 6);
    // Difficulty cells: s1 (mean 0.9, bin 9) -> a; s2, s3 (mean 0.15, bin 1) -> b (0.2 vs 0); y -> b; z -> b (falls back to overall).
    const d = evaluateScores(models, withDifficulty!.scores, test);
    expect(d.router.best.quality).toBeCloseTo((1 + 0.3 + 0.3 + 0.5 + 0.1) / 5, 6);
    // Test means: x -> b (0.467 vs 0.333), y -> b, z -> a.
    const o = evaluateScores(models, oracle!.scores, test);
    expect(o.router.best.quality).toBeCloseTo((0.8 + 0.3 + 0.3 + 0.5 + 0.9) / 5, 6);
  });

  it('the cross-validated known-task table never uses a record\'s own fold', () => {
    const recs = [rec('r0', 'x', 1, 0), rec('r1', 'x', 0, 1), rec('r2', 'x', 0, 1)];
    const fold = Int32Array.from([0, 1, 2]);
    const c = cvKnownTask(recs, models, fold, 3);
    // r0 sees r1 and r2 only: a 0, b 1.
    expect([...c.scores.subarray(0, 2)]).toEqual([0, 1]);
    // r1 sees r0 and r2: a 0.5, b 0.5.
    expect([...c.scores.subarray(2, 4)]).toEqual([0.5, 0.5]);
  });
});
