/**
 * The state that replicas of one deployment must agree on: which models are cooling down after
 * failures, counters with a time to live (rate limits, budgets, calibration counts) and small
 * string values with a TTL (conversation -> model for sessions). One interface, an in-process
 * implementation ({@link MemoryState}) and a Redis one (src/state/redis.ts); nothing else in
 * routecore knows which is in use.
 * @module
 */

/** One model taken out of decisions until `until`. */
export interface CooldownMark {
  /** The model id (after aliases: what decisions name). */
  model: string;
  /** Epoch milliseconds (Date.now) at which the model comes back. */
  until: number;
  /** Why, for logs and metrics, e.g. `status 503` or `timeout`. Never contains a key or a prompt. */
  reason: string;
}

/** Called for every cool-down mark set through a state, by this process or (shared states) another replica. */
export type CooldownListener = (mark: CooldownMark) => void;

/**
 * State shared by every executor of a deployment. Methods are async so that a networked
 * implementation fits; the in-memory one resolves at once.
 *
 * Semantics every implementation keeps:
 * - `setCooldown` stores the mark (the later `until` wins when one is already set) and notifies every
 *   listener of every replica, including the caller's own, exactly once per replica.
 * - `increment` creates a missing (or expired) counter at 0 with the given TTL, then adds; the TTL is
 *   not extended by later increments (a fixed window, as rate limits and daily budgets need).
 * - Expired entries read as absent (0 for counters).
 */
export interface SharedState {
  /** Takes `model` out of decisions for `ms` milliseconds and notifies every listener. */
  setCooldown(model: string, ms: number, reason: string): Promise<void>;
  /** Cool-downs not yet expired. */
  cooldowns(): Promise<CooldownMark[]>;
  /** Subscribes to cool-down marks; returns the unsubscribe function. */
  onCooldown(listener: CooldownListener): () => void;
  /** Adds `delta` to counter `key` (created with a window of `ttlMs`) and returns the new value. */
  increment(key: string, delta: number, ttlMs: number): Promise<number>;
  /** A counter's value; 0 when absent or expired. */
  counter(key: string): Promise<number>;
  /** Reads a string value; undefined when absent or expired. */
  getValue(key: string): Promise<string | undefined>;
  /** Stores a string value for `ttlMs` (each set restarts the TTL). */
  setValue(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Adds `amount` to counter `key` only when the result stays at or below `limit`, atomically across
   * replicas (a spend cap that holds under concurrency); returns the new value, or null when refused.
   * The counter is created with a window of `ttlMs` like {@link increment}'s.
   */
  reserve(key: string, amount: number, limit: number, ttlMs: number): Promise<number | null>;
  /**
   * Takes one of `limit` slots of `key` (a concurrency cap shared by replicas) for at most `ttlMs`
   * (a replica that dies without releasing loses its slot when the lease runs out); returns the
   * lease's token, or null when every slot is taken.
   */
  acquireLease(key: string, limit: number, ttlMs: number): Promise<string | null>;
  /** Gives a slot back; an unknown or expired token is ignored. */
  releaseLease(key: string, token: string): Promise<void>;
  /** Releases timers and connections; later calls may fail. */
  close(): Promise<void>;
}
