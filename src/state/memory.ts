/**
 * The in-process {@link SharedState}: maps with expiry times, for one process (tests, a single
 * gateway replica, an application calling the executor directly).
 * @module
 */
import { randomUUID } from 'node:crypto';

import { invalidArgument } from '../errors.js';
import type { CooldownListener, CooldownMark, SharedState } from './shared-state.js';

/** Entries are swept this often so that keys that are never read again do not pile up. */
const SWEEP_INTERVAL_MS = 60_000;
/** Default bound of the string values held (characters, keys included): see the constructor. */
const DEFAULT_MAX_VALUE_CHARS = 32 * 2 ** 20;

interface Expiring<T> {
  value: T;
  expires: number;
}

/** {@link SharedState} held in this process's memory. */
export class MemoryState implements SharedState {
  readonly #cooldowns = new Map<string, CooldownMark>();
  readonly #counters = new Map<string, Expiring<number>>();
  readonly #values = new Map<string, Expiring<string>>();
  readonly #listeners = new Set<CooldownListener>();
  /** Lease sets: key -> token -> expiry (epoch ms). */
  readonly #leases = new Map<string, Map<string, number>>();
  readonly #now: () => number;
  #sweeper: NodeJS.Timeout | undefined;
  /** UTF-16 code units of every value and its key, held against {@link MemoryState} `maxValueChars`. */
  #valueChars = 0;
  readonly #maxValueChars: number;

  /**
   * @param options `now`: the clock (epoch ms), replaceable in tests; default Date.now. `maxValueChars`:
   * the most characters the string values (and their keys) may hold together, default 32 Mi (about 64
   * MiB): past it the oldest values are dropped first, as a cache would (a session mark or a kept
   * output item lost costs a prompt-cache hit or a later reference, never an answer).
   */
  constructor(options: { now?: () => number; maxValueChars?: number } = {}) {
    this.#now = options.now ?? Date.now;
    const max = options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
    if (!Number.isInteger(max) || max < 1) throw invalidArgument('options.maxValueChars', 'an integer >= 1', max);
    this.#maxValueChars = max;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  async setCooldown(model: string, ms: number, reason: string): Promise<void> {
    checkKey(model, 'model');
    checkMs(ms, 'ms');
    const until = this.#now() + ms;
    const prev = this.#cooldowns.get(model);
    const mark: CooldownMark = { model, until: prev && prev.until > until ? prev.until : until, reason: String(reason) };
    this.#cooldowns.set(model, mark);
    for (const l of this.#listeners) {
      try {
        l({ ...mark });
      } catch {
        // One faulty listener must not keep the others from hearing about the outage.
      }
    }
  }

  async cooldowns(): Promise<CooldownMark[]> {
    const now = this.#now();
    const out: CooldownMark[] = [];
    for (const [k, m] of this.#cooldowns) {
      if (m.until <= now) this.#cooldowns.delete(k);
      else out.push({ ...m });
    }
    return out;
  }

  onCooldown(listener: CooldownListener): () => void {
    if (typeof listener !== 'function') throw invalidArgument('listener', 'a function', listener);
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async increment(key: string, delta: number, ttlMs: number): Promise<number> {
    checkKey(key, 'key');
    if (typeof delta !== 'number' || !Number.isFinite(delta)) throw invalidArgument('delta', 'a finite number', delta);
    checkMs(ttlMs, 'ttlMs');
    const now = this.#now();
    let c = this.#counters.get(key);
    if (!c || c.expires <= now) {
      c = { value: 0, expires: now + ttlMs };
      this.#counters.set(key, c);
    }
    c.value += delta;
    return c.value;
  }

  async counter(key: string): Promise<number> {
    checkKey(key, 'key');
    const c = this.#counters.get(key);
    if (!c) return 0;
    if (c.expires <= this.#now()) {
      this.#counters.delete(key);
      return 0;
    }
    return c.value;
  }

  async getValue(key: string): Promise<string | undefined> {
    checkKey(key, 'key');
    const v = this.#values.get(key);
    if (!v) return undefined;
    if (v.expires <= this.#now()) {
      this.#dropValue(key);
      return undefined;
    }
    return v.value;
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    checkKey(key, 'key');
    if (typeof value !== 'string') throw invalidArgument('value', 'a string', value);
    checkMs(ttlMs, 'ttlMs');
    this.#dropValue(key);
    this.#values.set(key, { value, expires: this.#now() + ttlMs });
    this.#valueChars += key.length + value.length;
    // A Map iterates in insertion order, and a value set again was re-inserted: the first is the oldest.
    for (const k of this.#values.keys()) {
      if (this.#valueChars <= this.#maxValueChars) break;
      this.#dropValue(k);
    }
  }

  #dropValue(key: string): void {
    const v = this.#values.get(key);
    if (v === undefined) return;
    this.#values.delete(key);
    this.#valueChars -= key.length + v.value.length;
  }

  async reserve(key: string, amount: number, limit: number, ttlMs: number): Promise<number | null> {
    checkKey(key, 'key');
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) throw invalidArgument('amount', 'a finite number >= 0', amount);
    if (typeof limit !== 'number' || Number.isNaN(limit)) throw invalidArgument('limit', 'a number', limit);
    checkMs(ttlMs, 'ttlMs');
    const current = await this.counter(key);
    if (current + amount > limit) return null;
    return this.increment(key, amount, ttlMs);
  }

  async acquireLease(key: string, limit: number, ttlMs: number): Promise<string | null> {
    checkKey(key, 'key');
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw invalidArgument('limit', 'an integer >= 0', limit);
    checkMs(ttlMs, 'ttlMs');
    const now = this.#now();
    let set = this.#leases.get(key);
    if (!set) {
      set = new Map();
      this.#leases.set(key, set);
    }
    for (const [t, exp] of set) if (exp <= now) set.delete(t);
    if (set.size >= limit) return null;
    const token = randomUUID();
    set.set(token, now + ttlMs);
    return token;
  }

  async releaseLease(key: string, token: string): Promise<void> {
    checkKey(key, 'key');
    this.#leases.get(key)?.delete(token);
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#listeners.clear();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, m] of this.#cooldowns) if (m.until <= now) this.#cooldowns.delete(k);
    for (const [k, c] of this.#counters) if (c.expires <= now) this.#counters.delete(k);
    for (const [k, v] of this.#values) if (v.expires <= now) this.#dropValue(k);
  }
}

function checkKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalidArgument(name, 'a non-empty string', key);
}

function checkMs(ms: unknown, name: string): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw invalidArgument(name, 'a finite number of milliseconds >= 0', ms);
}
