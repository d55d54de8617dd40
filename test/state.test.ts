/** MemoryState: the SharedState semantics every implementation (the Redis one too) keeps. */
import { describe, expect, it } from 'vitest';

import { MemoryState } from '../src/state/memory.js';
import type { CooldownMark } from '../src/state/shared-state.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('MemoryState', () => {
  it('cool-downs: stored, the later until wins, every listener hears each mark once, expiry', async () => {
    const c = clock();
    const s = new MemoryState({ now: c.now });
    const heard: CooldownMark[] = [];
    const heard2: CooldownMark[] = [];
    const off = s.onCooldown((m) => heard.push(m));
    s.onCooldown((m) => heard2.push(m));
    s.onCooldown(() => {
      throw new Error('a faulty listener');
    });
    await s.setCooldown('a', 5000, 'status 503');
    await s.setCooldown('a', 1000, 'timeout');
    expect(await s.cooldowns()).toEqual([{ model: 'a', until: 1_005_000, reason: 'timeout' }]);
    expect(heard.map((m) => m.until)).toEqual([1_005_000, 1_005_000]);
    expect(heard2).toHaveLength(2);
    off();
    await s.setCooldown('b', 10, 'reset');
    expect(heard).toHaveLength(2);
    c.advance(5000);
    expect(await s.cooldowns()).toEqual([]);
    await s.close();
  });

  it('values: held within maxValueChars, the oldest (by last set) dropped first; a bad bound is refused by name', async () => {
    const s = new MemoryState({ maxValueChars: 30 });
    await s.setValue('a', '0123456789', 60_000); // 11 characters with its key
    await s.setValue('b', '0123456789', 60_000); // 22
    await s.setValue('a', '0123456789', 60_000); // set again: now the newest
    await s.setValue('c', '0123456789', 60_000); // 33 > 30: the oldest, b, goes
    expect(await s.getValue('b')).toBeUndefined();
    expect(await s.getValue('a')).toBe('0123456789');
    expect(await s.getValue('c')).toBe('0123456789');
    await s.setValue('d', 'x'.repeat(40), 60_000); // larger than the bound alone: everything goes, itself included
    expect([await s.getValue('a'), await s.getValue('c'), await s.getValue('d')]).toEqual([undefined, undefined, undefined]);
    await s.setValue('e', 'fits', 60_000);
    expect(await s.getValue('e')).toBe('fits');
    await s.close();
    expect(() => new MemoryState({ maxValueChars: 0 })).toThrow('Expected an integer >= 1 for options.maxValueChars but received number 0');
  });

  it('counters: fixed window from the first increment, expiry reads as 0', async () => {
    const c = clock();
    const s = new MemoryState({ now: c.now });
    expect(await s.increment('k', 2, 1000)).toBe(2);
    c.advance(600);
    expect(await s.increment('k', 3, 1000)).toBe(5);
    c.advance(500); // 1100 ms after creation: the window is over
    expect(await s.counter('k')).toBe(0);
    expect(await s.increment('k', 1, 1000)).toBe(1);
    await s.close();
  });

  it('values: TTL restarted by each set', async () => {
    const c = clock();
    const s = new MemoryState({ now: c.now });
    await s.setValue('session:1', 'gpt-4o', 1000);
    c.advance(900);
    expect(await s.getValue('session:1')).toBe('gpt-4o');
    await s.setValue('session:1', 'gpt-4o', 1000);
    c.advance(900);
    expect(await s.getValue('session:1')).toBe('gpt-4o');
    c.advance(200);
    expect(await s.getValue('session:1')).toBeUndefined();
    await s.close();
  });

  it('validates arguments, naming them', async () => {
    const s = new MemoryState();
    await expect(s.setCooldown('', 1, 'x')).rejects.toThrow('Expected a non-empty string for model but received string ""');
    await expect(s.setCooldown('a', -1, 'x')).rejects.toThrow('Expected a finite number of milliseconds >= 0 for ms but received number -1');
    await expect(s.increment('k', NaN, 1)).rejects.toThrow('Expected a finite number for delta but received NaN');
    await expect(s.setValue('k', 3 as never, 1)).rejects.toThrow('Expected a string for value but received number 3');
    expect(() => s.onCooldown(null as never)).toThrow('Expected a function for listener but received null');
    await s.close();
  });
});
