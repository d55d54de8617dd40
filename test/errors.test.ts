import { describe as group, expect, it } from 'vitest';
import { ERROR_CODES, RoutecoreError, describe, didYouMean, invalidArgument, isRoutecoreError } from '../src/errors.js';

group('RoutecoreError', () => {
  it('carries code, name, message and cause', () => {
    const cause = new Error('disk on fire');
    const err = new RoutecoreError('ERR_ROUTECORE_IO', 'cannot read "x.json"', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(RoutecoreError);
    expect(err.name).toBe('RoutecoreError');
    expect(err.code).toBe('ERR_ROUTECORE_IO');
    expect(err.message).toBe('cannot read "x.json"');
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe('RoutecoreError: cannot read "x.json"');
  });

  it('has no cause property when none is given', () => {
    const err = new RoutecoreError('ERR_ROUTECORE_INTERNAL', 'x');
    expect('cause' in err).toBe(false);
  });

  it('maps an unlisted code (from untyped callers) to ERR_ROUTECORE_INTERNAL and keeps the evidence', () => {
    const err = new RoutecoreError('ERR_NOPE' as never, 'boom');
    expect(err.code).toBe('ERR_ROUTECORE_INTERNAL');
    expect(err.message).toBe('boom (raised with unknown error code string "ERR_NOPE")');
  });

  it('lists every code once', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(ERROR_CODES).toContain('ERR_ROUTECORE_NO_ELIGIBLE_MODEL');
    expect(ERROR_CODES).toHaveLength(20);
  });

  it('isRoutecoreError checks type and optionally code', () => {
    const err = new RoutecoreError('ERR_ROUTECORE_BAD_DATA', 'x');
    expect(isRoutecoreError(err)).toBe(true);
    expect(isRoutecoreError(err, 'ERR_ROUTECORE_BAD_DATA')).toBe(true);
    expect(isRoutecoreError(err, 'ERR_ROUTECORE_IO')).toBe(false);
    expect(isRoutecoreError(new Error('x'))).toBe(false);
  });
});

group('describe', () => {
  it.each([
    [3, 'number 3'],
    [-0.5, 'number -0.5'],
    [Infinity, 'number Infinity'],
    [NaN, 'NaN'],
    ['abc', 'string "abc"'],
    ['a\nb', 'string "a\\nb"'],
    [undefined, 'undefined'],
    [null, 'null'],
    [true, 'boolean true'],
    [10n, 'bigint 10n'],
    [[1, 2], 'array of length 2'],
    [new Float32Array(4), 'Float32Array of length 4'],
    [{ a: 1 }, 'object'],
    [Object.create(null), 'object'],
    [new Map(), 'Map object'],
    [() => 1, 'function'],
    [Symbol('s'), 'symbol'],
  ])('describes %s', (value, text) => {
    expect(describe(value)).toBe(text);
  });

  it('truncates long strings to 40 characters with an ellipsis', () => {
    const long = 'x'.repeat(100);
    expect(describe(long)).toBe(`string "${'x'.repeat(40)}…"`);
    expect(describe('y'.repeat(40))).toBe(`string "${'y'.repeat(40)}"`);
  });
});

group('invalidArgument', () => {
  it('builds the standard message with code ERR_ROUTECORE_INVALID_ARGUMENT', () => {
    const err = invalidArgument('options.lambda', 'a finite number >= 0', 'abc');
    expect(err).toBeInstanceOf(RoutecoreError);
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a finite number >= 0 for options.lambda but received string "abc"');
  });
});

group('didYouMean', () => {
  const known = ['inputCostPer1M', 'outputCostPer1M', 'latencyMs', 'enabled'];
  it('suggests the nearest known name for a typo', () => {
    expect(didYouMean('inputCostPerM', known)).toBe('inputCostPer1M');
    expect(didYouMean('enabeld', known)).toBe('enabled');
  });
  it('matches case and separator variants', () => {
    expect(didYouMean('latency_ms', known)).toBe('latencyMs');
    expect(didYouMean('LATENCYMS', known)).toBe('latencyMs');
  });
  it('suggests nothing for unrelated names', () => {
    expect(didYouMean('color', known)).toBeUndefined();
    expect(didYouMean('zz', known)).toBeUndefined();
  });
});
