/**
 * Small helpers shared by the test files: catching a RoutecoreError to assert its code and message,
 * and paths of the files in test/fixtures. The heavier fixtures have their own modules
 * (mock-upstream.ts, gateway-fixture.ts, redis-server.ts).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

import { RoutecoreError } from '../../src/errors.js';

/** The RoutecoreError `fn` throws; fails the test when it throws something else or nothing. */
export function caught(fn: () => unknown): RoutecoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RoutecoreError);
    return err as RoutecoreError;
  }
  throw new Error('expected a RoutecoreError, but nothing was thrown');
}

/** Asserts that `fn` throws ERR_ROUTECORE_INVALID_ARGUMENT with exactly `message`. */
export function expectInvalid(fn: () => unknown, message: string): void {
  const err = caught(fn);
  expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
  expect(err.message).toBe(message);
}

/** The absolute path of a file in test/fixtures. */
export function fixturePath(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', name);
}
