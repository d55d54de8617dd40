/**
 * Request ids (src/execution/request-id.ts): `rc-` and a UUID with version 7's layout, so that they
 * sort by time (the outcome log's index on id grows at its end) and stay unique.
 */
import { describe, expect, it } from 'vitest';

import { requestId } from '../src/execution/request-id.js';

const V7 = /^rc-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestId', () => {
  it('is rc- and a version-7 UUID whose first 48 bits are the time in ms', () => {
    const now = Date.UTC(2026, 11, 7, 0, 30, 0, 123);
    const id = requestId(now);
    expect(id).toMatch(V7);
    expect(Number.parseInt(id.slice(3, 11) + id.slice(12, 16), 16)).toBe(now);
    expect(requestId()).toMatch(V7);
  });

  it('sorts by time across milliseconds and never repeats within one', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 2000 }, (_, i) => requestId(t0 + Math.floor(i / 100)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 100; i < ids.length; i += 100) expect(ids[i - 1]!.slice(0, 16) < ids[i]!.slice(0, 16)).toBe(true);
    expect([...ids].sort().map((id) => id.slice(0, 16))).toEqual(ids.map((id) => id.slice(0, 16)));
  });
});
