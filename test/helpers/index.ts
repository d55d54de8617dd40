/**
 * Small helpers shared by the test files: catching a RoutecoreError to assert its code and message,
 * and paths of the files in test/fixtures. The heavier fixtures have their own modules
 * (mock-upstream.ts, gateway-fixture.ts, redis-server.ts).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

import { RoutecoreError } from '../../src/errors.js';

/** A class of errors a test expects (RoutecoreError, WireError, ...). */
type ErrorClass<E extends Error> = new (...args: never[]) => E;

/** The RoutecoreError (or `type`) `fn` throws; fails the test when it throws something else or nothing. */
export function caught(fn: () => unknown): RoutecoreError;
export function caught<E extends Error>(fn: () => unknown, type: ErrorClass<E>): E;
export function caught(fn: () => unknown, type: ErrorClass<Error> = RoutecoreError): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as Error;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** {@link caught} for work that may be async: the RoutecoreError `fn` throws or rejects with. */
export async function caughtAsync(fn: () => unknown): Promise<RoutecoreError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RoutecoreError);
    return err as RoutecoreError;
  }
  throw new Error(`expected a RoutecoreError, but got a result: ${String(result).slice(0, 100)}`);
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
