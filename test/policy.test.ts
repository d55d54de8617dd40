import { describe, expect, it } from 'vitest';
import {
  SCORE_TIE_EPSILON,
  buildCandidates,
  costOf,
  rankBest,
  rankCost,
  validateCostOptions,
  type CandidateTable,
  type CostOptions,
} from '../src/routing/policy.js';
import { Registry } from '../src/routing/registry.js';
import { expectInvalid } from './helpers/index.js';

// Costs at 1000 prompt tokens (USD per query):
//   big   1000 × 10/1e6 + 100 × 30/1e6 = 0.013
//   mid   1000 × 1/1e6  + 100 × 2/1e6  = 0.0012
//   small 1000 × 0.1/1e6 + 100 × 0.2/1e6 = 0.00012
//   free  no price, no fallback → unknown (NaN)
const registry = Registry.fromObject(
  {
    models: [
      { id: 'big', inputCostPer1M: 10, outputCostPer1M: 30, expectedOutputTokens: 100, latencyMs: 2000, contextWindow: 8000, capabilities: ['tools', 'vision'] },
      { id: 'mid', inputCostPer1M: 1, outputCostPer1M: 2, expectedOutputTokens: 100, latencyMs: 800, contextWindow: 4000, capabilities: ['tools'] },
      { id: 'small', inputCostPer1M: 0.1, outputCostPer1M: 0.2, expectedOutputTokens: 100, latencyMs: 300, contextWindow: 2000 },
      { id: 'free' },
      { id: 'off', inputCostPer1M: 0, outputCostPer1M: 0, enabled: false },
    ],
  },
  'test-registry',
);
const IDS = ['big', 'mid', 'small', 'free', 'off', 'ghost'];
const [BIG, MID, SMALL, FREE] = [0, 1, 2, 3];
const noFallback = (): undefined => undefined;
const table = buildCandidates(IDS, registry, noFallback, 1000);

/** Two prompts in one row-major buffer; the second row is the one ranked, to exercise `offset`. */
function rows(second: number[]): Float32Array {
  return new Float32Array([...IDS.map(() => 0.1), ...second]);
}
const OFFSET = IDS.length;

function best(scores: Float32Array, t: CandidateTable = table, offset = OFFSET): number[] {
  const ranked: number[] = [];
  const n = rankBest(scores, offset, t, ranked);
  expect(n).toBe(ranked.length);
  return ranked;
}

function cost(scores: Float32Array, options: CostOptions, t: CandidateTable = table): number[] {
  const ranked: number[] = [];
  const n = rankCost(scores, OFFSET, t, options, ranked);
  expect(n).toBe(ranked.length);
  return ranked;
}

describe('buildCandidates', () => {
  it('resolves prices, limits and eligibility from the registry', () => {
    expect(table.ids).toEqual(IDS);
    expect([...table.eligible]).toEqual([1, 1, 1, 1, 0, 0]);
    expect(table.cost[BIG]).toBeCloseTo(0.013, 12);
    expect(table.cost[MID]).toBeCloseTo(0.0012, 12);
    expect(table.cost[SMALL]).toBeCloseTo(0.00012, 12);
    expect(table.cost[FREE]).toBeNaN();
    expect(table.cost[5]).toBeNaN();
    expect([...table.latencyMs].slice(0, 3)).toEqual([2000, 800, 300]);
    expect(table.latencyMs[FREE]).toBeNaN();
    expect([...table.contextWindow]).toEqual([8000, 4000, 2000, Infinity, Infinity, Infinity]);
    expect([...table.outputTokens]).toEqual([100, 100, 100, 256, 256, 256]);
    expect(table.capabilities[BIG]).toEqual(['tools', 'vision']);
    expect(table.capabilities[5]).toEqual([]);
    expect(table.promptTokens).toBe(1000);
  });

  it('falls back to per-query costs for models the registry does not price', () => {
    const t = buildCandidates(IDS, registry, (id) => (id === 'free' ? 0.0005 : id === 'big' ? 99 : undefined), 1000);
    expect(t.cost[FREE]).toBe(0.0005);
    expect(t.inputCostPerToken[FREE]).toBe(0);
    // A registry price wins over the fallback.
    expect(t.cost[BIG]).toBeCloseTo(0.013, 12);
  });

  it('uses a per-query predicted cost where given (NaN keeps the table), and checks its length', () => {
    const t = buildCandidates(['a', 'b'], undefined, (id) => (id === 'a' ? 0.01 : 0.02), 0);
    const s = new Float32Array([0.9, 0.85]);
    const ranked: number[] = [];
    rankCost(s, 0, t, { lambda: 10 }, ranked);
    expect(ranked[0]).toBe(0); // 0.9 − 0.1 > 0.85 − 0.2
    rankCost(s, 0, t, { lambda: 10 }, ranked, new Float32Array([NaN, 0.001]));
    expect(ranked[0]).toBe(1); // b predicted at $0.001 for this query
    rankCost(s, 0, t, { lambda: 10 }, ranked, new Float32Array([7, 7, 0.5, 0.001]), 2);
    expect(ranked[0]).toBe(1);
    expect(() => rankCost(s, 0, t, {}, ranked, new Float32Array(1))).toThrow(/a Float32Array with rowOffset \+ 2 <= its length for rowCost/);
  });

  it('makes every model eligible without a registry', () => {
    const t = buildCandidates(['a', 'b'], undefined, (id) => (id === 'a' ? 0.01 : undefined), 0);
    expect([...t.eligible]).toEqual([1, 1]);
    expect(t.cost[0]).toBe(0.01);
    expect(t.cost[1]).toBeNaN();
  });

  it('validates its arguments', () => {
    expectInvalid(() => buildCandidates([], registry, noFallback, 0), 'Expected a non-empty array of model id strings for modelIds but received array of length 0');
    expectInvalid(() => buildCandidates(['a', 3 as unknown as string], registry, noFallback, 0), 'Expected a non-empty model id string for modelIds[1] but received number 3');
    expectInvalid(() => buildCandidates(['a', 'a'], registry, noFallback, 0), 'Expected a model id not already listed for modelIds[1] but received string "a"');
    expectInvalid(() => buildCandidates(['a'], {} as Registry, noFallback, 0), 'Expected a Registry or undefined for registry but received object');
    expectInvalid(() => buildCandidates(['a'], registry, 0.1 as unknown as () => undefined, 0), 'Expected a function (id) => number | undefined for fallbackCost but received number 0.1');
    expectInvalid(() => buildCandidates(['a'], registry, noFallback, -5), 'Expected a finite number >= 0 for promptTokens but received number -5');
    expectInvalid(() => buildCandidates(['ghost'], registry, () => -1, 0), 'Expected a finite number >= 0 (USD per query) or undefined for fallbackCost("ghost") but received number -1');
  });
});

describe('costOf', () => {
  it('returns the table cost or reprices it for another prompt length', () => {
    expect(costOf(table, BIG)).toBeCloseTo(0.013, 12);
    // 3000 × 10/1e6 + 0.003
    expect(costOf(table, BIG, 3000)).toBeCloseTo(0.033, 12);
    expect(costOf(table, FREE, 3000)).toBeNaN();
  });

  it('validates its arguments', () => {
    expectInvalid(() => costOf(table, 6), 'Expected an integer in [0, 5] for index but received number 6');
    expectInvalid(() => costOf(table, 0, -1), 'Expected a finite number >= 0 for promptTokens but received number -1');
    expectInvalid(() => costOf(null as unknown as CandidateTable, 0), 'Expected a CandidateTable from buildCandidates() for table but received null');
  });
});

describe('rankBest', () => {
  it('ranks eligible models by predicted score, ignoring disabled and unregistered ones', () => {
    expect(best(rows([0.8, 0.7, 0.6, 0.9, 0.99, 0.99]))).toEqual([FREE, BIG, MID, SMALL]);
  });

  it('reads the row at the given offset', () => {
    const scores = new Float32Array([0.1, 0.9, 0.5, 0.2, 0, 0, /* row 2 */ 0.9, 0.1, 0.5, 0.2, 0, 0]);
    expect(best(scores, table, 0)).toEqual([MID, SMALL, FREE, BIG]);
    expect(best(scores, table, 6)).toEqual([BIG, SMALL, FREE, MID]);
  });

  it('breaks near-ties (< 1e-6) towards the cheaper model, unknown cost after known', () => {
    expect(SCORE_TIE_EPSILON).toBe(1e-6);
    // big and mid differ by one float32 ulp at 0.8 (≈6e-8): a tie, so the cheaper mid goes first.
    const nearly = Math.fround(0.8) + 6e-8;
    expect(best(rows([0.8, nearly, 0.5, 0.8, 0, 0]))).toEqual([MID, BIG, FREE, SMALL]);
    // A real difference of 1e-3 is not a tie.
    expect(best(rows([0.801, 0.8, 0.5, 0.1, 0, 0]))).toEqual([BIG, MID, SMALL, FREE]);
  });

  it('breaks exact ties of score and cost by id', () => {
    const t = buildCandidates(['b', 'c', 'a'], undefined, noFallback, 0);
    expect(best(new Float32Array([0.5, 0.5, 0.5]), t, 0)).toEqual([2, 0, 1]);
  });

  it('ranks a NaN prediction last', () => {
    expect(best(rows([NaN, 0.2, 0.3, 0.1, 0, 0]))).toEqual([SMALL, MID, FREE, BIG]);
  });

  it('clears the output array first and returns 0 when nothing is eligible', () => {
    const ranked = [7, 7, 7, 7, 7, 7, 7, 7, 7];
    expect(rankBest(rows([0.1, 0.2, 0.3, 0.4, 0, 0]), OFFSET, table, ranked)).toBe(4);
    expect(ranked).toEqual([FREE, SMALL, MID, BIG]);
    const none = buildCandidates(['off', 'ghost'], registry, noFallback, 0);
    expect(rankBest(new Float32Array([1, 1]), 0, none, ranked)).toBe(0);
    expect(ranked).toEqual([]);
  });

  it('validates its arguments', () => {
    const s = rows([0, 0, 0, 0, 0, 0]);
    expectInvalid(() => rankBest([0.1] as unknown as Float32Array, 0, table, []), 'Expected a Float32Array for scores but received array of length 1');
    expectInvalid(() => rankBest(s, 7, table, []), 'Expected an integer >= 0 with offset + 6 <= scores.length (12) for offset but received number 7');
    expectInvalid(() => rankBest(s, 1.5, table, []), 'Expected an integer >= 0 with offset + 6 <= scores.length (12) for offset but received number 1.5');
    expectInvalid(() => rankBest(s, 0, table, null as unknown as number[]), 'Expected an array to fill for ranked but received null');
    expectInvalid(() => rankBest(s, 0, {} as CandidateTable, []), 'Expected a CandidateTable from buildCandidates() for table but received object');
    const broken = { ...table, cost: new Float64Array(2) };
    expectInvalid(() => rankBest(s, 0, broken, []), 'Expected a CandidateTable whose columns all have 6 entries for table but received object');
  });
});

describe('rankCost', () => {
  // big .9, mid .85, small .6, free .5 (cost unknown)
  const s = rows([0.9, 0.85, 0.6, 0.5, 1, 1]);

  it('with lambda 0 (the default) ranks like best', () => {
    expect(cost(s, {})).toEqual([BIG, MID, SMALL, FREE]);
    expect(cost(s, { lambda: 0 })).toEqual(best(s));
  });

  it('maximises score − lambda × USD per query', () => {
    // λ=10: big .9−.13=.77, mid .85−.012=.838, small .6−.0012=.5988, free .5−0
    expect(cost(s, { lambda: 10 })).toEqual([MID, BIG, SMALL, FREE]);
    // λ=100: big −.4, mid .73, small .588, free .5
    expect(cost(s, { lambda: 100 })).toEqual([MID, SMALL, FREE, BIG]);
  });

  it('with targetScore picks the cheapest model reaching it, then the rest by score', () => {
    expect(cost(s, { targetScore: 0.8 })).toEqual([MID, BIG, SMALL, FREE]);
    expect(cost(s, { targetScore: 0.88 })).toEqual([BIG, MID, SMALL, FREE]);
    expect(cost(s, { targetScore: 0.5 })).toEqual([FREE, SMALL, MID, BIG]);
    // Nobody reaches it: all are fallbacks, best score first.
    expect(cost(s, { targetScore: 0.95 })).toEqual([BIG, MID, SMALL, FREE]);
  });

  it('with targetScore orders the fallbacks by score − lambda × cost', () => {
    expect(cost(s, { targetScore: 0.95, lambda: 100 })).toEqual([MID, SMALL, FREE, BIG]);
  });

  it('counts an unknown cost as 0 when maxCost is unset', () => {
    const s2 = rows([0.9, 0.85, 0.6, 0.9, 0, 0]);
    expect(cost(s2, { targetScore: 0.8 })).toEqual([FREE, MID, BIG, SMALL]);
  });

  it('maxCost excludes pricier models and models of unknown cost', () => {
    expect(cost(s, { maxCost: 0.002 })).toEqual([MID, SMALL]);
    expect(cost(s, { maxCost: 0.013 })).toEqual([BIG, MID, SMALL]);
  });

  it('reprices at options.promptTokens and applies the context window', () => {
    // At 1000 tokens big costs 0.013 and passes maxCost 0.02; at 3000 it costs 0.033.
    expect(cost(s, { maxCost: 0.02 })).toEqual([BIG, MID, SMALL]);
    expect(cost(s, { maxCost: 0.02, promptTokens: 3000 })).toEqual([MID]);
    // small: 2000 < 3000 + 100; free: unknown window never filters.
    expect(cost(s, { promptTokens: 3000 })).toEqual([BIG, MID, FREE]);
    expect(cost(s, { promptTokens: 1900 })).toEqual([BIG, MID, SMALL, FREE]);
    expect(cost(s, { promptTokens: 1901 })).toEqual([BIG, MID, FREE]);
  });

  it('maxLatencyMs excludes slow models and models of unknown latency', () => {
    expect(cost(s, { maxLatencyMs: 1000 })).toEqual([MID, SMALL]);
  });

  it('require keeps only models with every capability', () => {
    expect(cost(s, { require: ['tools'] })).toEqual([BIG, MID]);
    expect(cost(s, { require: ['vision', 'tools'] })).toEqual([BIG]);
  });

  it('returns 0 when no model passes the filters', () => {
    const ranked = [1, 2, 3];
    expect(rankCost(s, OFFSET, table, { require: ['gpu'] }, ranked)).toBe(0);
    expect(ranked).toEqual([]);
    expect(cost(s, { maxCost: 0.0001 })).toEqual([]);
  });

  it('validates option values on every call', () => {
    expectInvalid(() => cost(s, { lambda: -1 }), 'Expected a finite number >= 0 (score per USD per query) for options.lambda but received number -1');
    expectInvalid(() => cost(s, { targetScore: 1.5 }), 'Expected a number in [0, 1] for options.targetScore but received number 1.5');
    expectInvalid(() => cost(s, { maxCost: NaN }), 'Expected a finite number >= 0 (USD per query) for options.maxCost but received NaN');
    expectInvalid(() => cost(s, { maxLatencyMs: 0 }), 'Expected a number > 0 (milliseconds) for options.maxLatencyMs but received number 0');
    expectInvalid(() => cost(s, { promptTokens: -1 }), 'Expected a finite number >= 0 (tokens) for options.promptTokens but received number -1');
    expectInvalid(() => cost(s, { require: 'tools' as unknown as string[] }), 'Expected an array of capability strings for options.require but received string "tools"');
    expectInvalid(() => cost(s, { require: ['tools', ''] }), 'Expected a non-empty capability string for options.require[1] but received string ""');
    expectInvalid(() => cost(s, null as unknown as CostOptions), 'Expected an object of cost policy options for options but received null');
  });
});

describe('validateCostOptions', () => {
  it('returns a frozen copy', () => {
    const req = ['tools'];
    const o = validateCostOptions({ lambda: 10, require: req, maxCost: 0.01 }, 'options');
    expect(o).toEqual({ lambda: 10, require: ['tools'], maxCost: 0.01 });
    expect(Object.isFrozen(o)).toBe(true);
    req.push('vision');
    expect(o.require).toEqual(['tools']);
    expect(validateCostOptions(undefined, 'options')).toEqual({});
  });

  it('rejects unknown keys with a suggestion, naming the argument', () => {
    expectInvalid(
      () => validateCostOptions({ lamda: 1 }, 'routeOptions'),
      'Unknown option routeOptions.lamda (did you mean "lambda"?); known options: lambda, targetScore, maxCost, maxLatencyMs, require, promptTokens',
    );
    expectInvalid(
      () => validateCostOptions({ colour: 1 }, 'options'),
      'Unknown option options.colour; known options: lambda, targetScore, maxCost, maxLatencyMs, require, promptTokens',
    );
  });

  it('rejects bad values and non-objects', () => {
    expectInvalid(() => validateCostOptions({ lambda: Infinity }, 'opts'), 'Expected a finite number >= 0 (score per USD per query) for opts.lambda but received number Infinity');
    expectInvalid(() => validateCostOptions({ targetScore: '0.8' }, 'opts'), 'Expected a number in [0, 1] for opts.targetScore but received string "0.8"');
    expectInvalid(() => validateCostOptions(3, 'opts'), 'Expected an object of cost policy options for opts but received number 3');
    expectInvalid(() => validateCostOptions([], 'opts'), 'Expected an object of cost policy options for opts but received array of length 0');
  });
});

/** A deterministic PRNG so the property test is reproducible. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('rank functions against a reference sort', () => {
  it('agree with Array.sort for many models and random inputs (scratch buffers grow correctly)', () => {
    const rnd = lcg(42);
    const m = 100;
    const ids = Array.from({ length: m }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const models = ids.map((id) => {
      const priced = rnd() < 0.8;
      const p = Math.round(rnd() * 20) / 2;
      return { id, enabled: rnd() < 0.9, ...(priced ? { inputCostPer1M: p, outputCostPer1M: p * 2 } : {}) };
    });
    const reg = Registry.fromObject(models);
    const t = buildCandidates(ids, reg, noFallback, 500);
    const ranked: number[] = [];
    for (let trial = 0; trial < 50; trial++) {
      // Coarse scores create many exact ties, so the tie-breaks are exercised.
      const scores = new Float32Array(Array.from({ length: m }, () => Math.round(rnd() * 10) / 10));
      const lambda = trial % 2 === 0 ? 0 : 20;
      const eligible = ids.map((_, i) => i).filter((i) => t.eligible[i] === 1);
      const c = (i: number): number => (Number.isNaN(t.cost[i]!) ? 0 : t.cost[i]!);
      const key = (i: number): number => scores[i]! - lambda * c(i);
      const ref = [...eligible].sort((a, b) => key(b) - key(a) || c(a) - c(b) || (ids[a]! < ids[b]! ? -1 : 1));
      rankCost(scores, 0, t, { lambda }, ranked);
      expect(ranked).toEqual(ref);

      const bc = (i: number): number => (Number.isNaN(t.cost[i]!) ? Infinity : t.cost[i]!);
      const refBest = [...eligible].sort((a, b) => scores[b]! - scores[a]! || (bc(a) === bc(b) ? 0 : bc(a) < bc(b) ? -1 : 1) || (ids[a]! < ids[b]! ? -1 : 1));
      rankBest(scores, 0, t, ranked);
      expect(ranked).toEqual(refBest);

      const target = 0.7;
      const reach = eligible.filter((i) => scores[i]! >= target).sort((a, b) => c(a) - c(b) || scores[b]! - scores[a]! || (ids[a]! < ids[b]! ? -1 : 1));
      const rest = eligible.filter((i) => scores[i]! < target).sort((a, b) => key(b) - key(a) || c(a) - c(b) || (ids[a]! < ids[b]! ? -1 : 1));
      rankCost(scores, 0, t, { lambda, targetScore: target }, ranked);
      expect(ranked).toEqual([...reach, ...rest]);
    }
  });
});
