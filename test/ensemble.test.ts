import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { averageScores, constantSource, ScoreEnsemble, type ScoreSource } from '../src/routing/ensemble.js';
import { RoutecoreError } from '../src/errors.js';
import { evaluateScores } from '../src/evaluation/eval.js';
import type { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

const constant = constantSource;

describe('averageScores', () => {
  it('averages element-wise, equal weights by default', () => {
    const a = new Float32Array([0, 1, 0.5, 0.25]);
    const b = new Float32Array([1, 0, 0.5, 0.75]);
    expect(Array.from(averageScores([a, b]))).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(Array.from(averageScores([a]))).toEqual(Array.from(a));
  });

  it('normalises weights and skips zero-weight members', () => {
    const a = new Float32Array([1, 0]);
    const b = new Float32Array([0, 1]);
    const out = averageScores([a, b], [3, 1]);
    expect(out[0]).toBeCloseTo(0.75, 6);
    expect(out[1]).toBeCloseTo(0.25, 6);
    expect(Array.from(averageScores([a, new Float32Array([NaN, NaN])], [1, 0]))).toEqual([1, 0]);
  });

  it('rejects bad input with named arguments', () => {
    expect(() => averageScores([])).toThrow(/parts/);
    expect(() => averageScores([new Float32Array(2), new Float32Array(3)])).toThrow(/parts\[1\]/);
    expect(() => averageScores([new Float32Array(2)], [-1])).toThrow(/weights\[0\]/);
    expect(() => averageScores([new Float32Array(2), new Float32Array(2)], [0, 0])).toThrow(/positive sum/);
    expect(() => averageScores([new Float32Array(2)], [1, 1])).toThrow(/weights/);
  });
});

describe('ScoreEnsemble', () => {
  it('realigns members that list the models in another order', async () => {
    const e = new ScoreEnsemble([constant(['a', 'b', 'c'], [0.9, 0.5, 0.1]), constant(['c', 'a', 'b'], [0.3, 0.1, 0.5])]);
    expect(e.models).toEqual(['a', 'b', 'c']);
    const s = await e.scores(['x', 'y']);
    expect(s.length).toBe(6);
    for (const [k, want] of [0.5, 0.5, 0.2, 0.5, 0.5, 0.2].entries()) expect(s[k]).toBeCloseTo(want, 6);
  });

  it('blends a constant prior with weights', async () => {
    const e = new ScoreEnsemble([constant(['a', 'b'], [1, 0]), constant(['b', 'a'], [0.5, 0.5])], [1, 3]);
    const s = await e.scores(['x']);
    expect(s[0]).toBeCloseTo(0.625, 6);
    expect(s[1]).toBeCloseTo(0.375, 6);
    expect(() => constant(['a'], [NaN])).toThrow(/values\[0\]/);
    expect(() => constant([], [])).toThrow(/models/);
  });

  it('refuses members over different models', () => {
    expect(() => new ScoreEnsemble([constant(['a', 'b'], [0, 0]), constant(['a', 'c'], [0, 0])])).toThrow(RoutecoreError);
    expect(() => new ScoreEnsemble([constant(['a', 'b'], [0, 0]), constant(['a'], [0])])).toThrow(/members\[1\]/);
    expect(() => new ScoreEnsemble([])).toThrow(/members/);
    expect(() => new ScoreEnsemble([{} as ScoreSource])).toThrow(/members\[0\]/);
  });

  describe('over trained routers', () => {
    const records: OutcomeRecord[] = [];
    for (let i = 0; i < 120; i++) {
      const math = i % 2 === 0;
      records.push({
        id: `r${i}`,
        prompt: math ? `What is ${i} plus ${i + 3}? Compute the sum.` : `Which year did treaty number ${i} get signed in Europe?`,
        scores: { math: math ? 1 : 0, history: math ? 0 : 1 },
      });
    }
    const routers: Router[] = [];
    beforeAll(async () => {
      const common = { encoder: { log2Buckets: 12 }, maxEpochs: 20, seed: 3 } as const;
      routers.push((await train(records, { ...common, predictor: 'mlp', hidden: 8 })).router);
      routers.push((await train(records, { ...common, predictor: 'linear' })).router);
    });
    afterAll(() => {
      for (const r of routers) r.dispose();
    });

    it('returns the mean of the members and routes as well as they do', async () => {
      const e = new ScoreEnsemble(routers);
      const prompts = records.map((r) => r.prompt);
      const [a, b, s] = await Promise.all([routers[0]!.scores(prompts), routers[1]!.scores(prompts), e.scores(prompts)]);
      for (let k = 0; k < s.length; k++) expect(s[k]).toBeCloseTo((a[k]! + b[k]!) / 2, 5);
      const report = evaluateScores(e.models, s, records);
      expect(report.router.best.quality).toBeGreaterThan(0.9);
    });
  });
});
