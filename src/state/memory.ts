/**
 * The in-process {@link SharedState}: maps with expiry times, for one process (tests, a single
 * gateway replica, an application calling the executor directly).
 * @module
 */
import { invalidArgument } from '../errors.js';
import type { CooldownListener, CooldownMark, SharedState } from './shared-state.js';

/** Entries are swept this often so that keys that are never read again do not pile up. */
const SWEEP_INTERVAL_MS = 60_000;

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
  readonly #now: () => number;
  #sweeper: NodeJS.Timeout | undefined;

  /** @param options `now`: the clock (epoch ms), replaceable in tests; default Date.now. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
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
      this.#values.delete(key);
      return undefined;
    }
    return v.value;
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    checkKey(key, 'key');
    if (typeof value !== 'string') throw invalidArgument('value', 'a string', value);
    checkMs(ttlMs, 'ttlMs');
    this.#values.set(key, { value, expires: this.#now() + ttlMs });
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
    for (const [k, v] of this.#values) if (v.expires <= now) this.#values.delete(k);
  }
}

function checkKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalidArgument(name, 'a non-empty string', key);
}

function checkMs(ms: unknown, name: string): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw invalidArgument(name, 'a finite number of milliseconds >= 0', ms);
}
