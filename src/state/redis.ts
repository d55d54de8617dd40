/**
 * The Redis {@link SharedState}: what the replicas of one deployment must agree on, kept in Redis
 * (ioredis) so that any replica behind a load balancer sees the same cool-downs, budgets and limits.
 *
 * - Cool-downs live in one hash (`<prefix>cooldowns`, field = model, value = `until|reason`), set by a
 *   Lua script that keeps the later `until`, and are announced on the channel `<prefix>cooldown`. Every
 *   replica subscribes, so a model that fails on one replica leaves every replica's decisions one
 *   pub/sub hop later (well under a millisecond on one host, a network round trip across hosts). A
 *   replica hears its own marks directly, not through Redis, so its listeners run exactly once even
 *   when the subscription is down; a replica that (re)connects reads the hash and replays what is
 *   active, so one that starts during an outage learns about it too.
 * - Counters are `INCRBYFLOAT` plus `PEXPIRE` on first creation, in one script: a fixed window, as
 *   {@link SharedState.increment} promises (later increments do not extend it).
 * - Values are `SET ... PX`.
 *
 * Commands fail fast while Redis is unreachable (no offline queue): callers (the executor, the
 * gateway's limits) treat a failed state call as "unknown" and carry on rather than stall requests.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

import { RoutecoreError, invalidArgument } from '../errors.js';
import type { CooldownListener, CooldownMark, SharedState } from './shared-state.js';

/** Options of {@link RedisState}. */
export interface RedisStateOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Prepended to every key and channel, so that several deployments can share one Redis. Default `routecore:`. */
  prefix?: string;
  /** How long to wait for the first connection before {@link RedisState.connect} fails. Default 5,000 ms. */
  connectTimeoutMs?: number;
}

// KEYS[1] = hash, ARGV = model, until, reason, channel, payload. Keeps the later until; publishes the stored mark.
const SET_COOLDOWN = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local untilMs = tonumber(ARGV[2])
local reason = ARGV[3]
if prev then
  local sep = string.find(prev, '|', 1, true)
  local prevUntil = tonumber(string.sub(prev, 1, sep - 1))
  if prevUntil and prevUntil > untilMs then
    untilMs = prevUntil
    reason = string.sub(prev, sep + 1)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', untilMs) .. '|' .. reason)
return string.format('%d', untilMs) .. '|' .. reason
`;

// KEYS[1] = counter, ARGV = delta, ttl ms. A fixed window: the TTL is set when the counter is created.
const INCREMENT = `
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`;

// KEYS[1] = counter, ARGV = amount, limit, ttl ms. Adds only when the result stays within the limit.
const RESERVE = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if cur + amount > tonumber(ARGV[2]) then return false end
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return v
`;

// KEYS[1] = lease set (a sorted set scored by expiry), ARGV = now ms, limit, ttl ms, token.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

function parseMark(model: string, stored: string): CooldownMark | undefined {
  const sep = stored.indexOf('|');
  if (sep < 0) return undefined;
  const until = Number(stored.slice(0, sep));
  if (!Number.isFinite(until)) return undefined;
  return { model, until, reason: stored.slice(sep + 1) };
}

/** {@link SharedState} in Redis, for several gateway replicas. Create with {@link RedisState.connect}. */
export class RedisState implements SharedState {
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #hash: string;
  readonly #channel: string;
  /** Identifies this replica's own announcements, which it has already delivered locally. */
  readonly #replica = randomUUID();
  /**
   * Each listener with the newest `until` it has heard per model. A mark can reach a replica twice
   * (its pub/sub message and a replay of the hash that raced it: a late listener's first read, a
   * reconnect), and a listener hears each mark once: a mark no later than one it already heard is
   * not news.
   */
  readonly #listeners = new Map<CooldownListener, Map<string, number>>();
  #closed = false;
  /** State calls that failed (Redis unreachable, script error), for the gateway's metrics. */
  errors = 0;

  private constructor(cmd: Redis, sub: Redis, prefix: string) {
    this.#cmd = cmd;
    this.#sub = sub;
    this.#prefix = prefix;
    this.#hash = `${prefix}cooldowns`;
    this.#channel = `${prefix}cooldown`;
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const bar = message.indexOf(' ');
      if (bar < 0 || message.slice(0, bar) === this.#replica) return;
      let mark: CooldownMark;
      try {
        mark = JSON.parse(message.slice(bar + 1)) as CooldownMark;
      } catch {
        return;
      }
      this.#deliver(mark);
    });
    // After a reconnect, marks announced while this replica was away are in the hash.
    this.#sub.on('ready', () => void this.#replay());
  }

  /**
   * Connects (command and subscriber connections), subscribes to cool-down announcements and waits
   * until both are ready. Fails with `ERR_ROUTECORE_IO` naming the URL (without its password).
   */
  static async connect(options: RedisStateOptions): Promise<RedisState> {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with a url', options);
    const { url } = options;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidArgument('options.url', 'a redis:// or rediss:// URL', url);
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw invalidArgument('options.url', 'a redis:// or rediss:// URL', url);
    const prefix = options.prefix ?? 'routecore:';
    if (typeof prefix !== 'string') throw invalidArgument('options.prefix', 'a string', prefix);
    const timeout = options.connectTimeoutMs ?? 5000;
    if (typeof timeout !== 'number' || !(timeout > 0)) throw invalidArgument('options.connectTimeoutMs', 'a number > 0', timeout);
    const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: timeout,
      // Keep reconnecting (capped backoff): a Redis restart must not need a gateway restart.
      retryStrategy: (times: number) => Math.min(50 * times, 2000),
    };
    const cmd = new Redis(url, common);
    const sub = new Redis(url, common);
    // ioredis reports connection trouble as 'error' events; without a listener Node would crash.
    const quiet = () => undefined;
    cmd.on('error', quiet);
    sub.on('error', quiet);
    const state = new RedisState(cmd, sub, prefix);
    try {
      await Promise.all([cmd.connect(), sub.connect()]);
      await sub.subscribe(state.#channel);
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot connect to Redis at ${shown}: ${(err as Error).message}`, { cause: err });
    }
    return state;
  }

  /** Whether both connections are up (for `/readyz`). */
  get connected(): boolean {
    return this.#cmd.status === 'ready' && this.#sub.status === 'ready';
  }

  async setCooldown(model: string, ms: number, reason: string): Promise<void> {
    checkKey(model, 'model');
    checkMs(ms, 'ms');
    const until = Date.now() + ms;
    // The local listeners first: this replica must stop calling the model even if Redis is down.
    const local: CooldownMark = { model, until, reason: String(reason).replace(/\|/g, '/') };
    this.#deliver(local);
    try {
      const stored = (await this.#cmd.eval(SET_COOLDOWN, 1, this.#hash, model, String(until), local.reason)) as string;
      const mark = parseMark(model, stored) ?? local;
      await this.#cmd.publish(this.#channel, `${this.#replica} ${JSON.stringify(mark)}`);
    } catch (err) {
      this.errors++;
      throw stateError('setCooldown', err);
    }
  }

  async cooldowns(): Promise<CooldownMark[]> {
    let all: Record<string, string>;
    try {
      all = await this.#cmd.hgetall(this.#hash);
    } catch (err) {
      this.errors++;
      throw stateError('cooldowns', err);
    }
    const now = Date.now();
    const out: CooldownMark[] = [];
    const expired: string[] = [];
    for (const [model, stored] of Object.entries(all)) {
      const m = parseMark(model, stored);
      if (!m || m.until <= now) expired.push(model);
      else out.push(m);
    }
    // Expired marks are removed lazily; a concurrent newer mark for the same model is a new HSET and survives only if it came after, which is acceptable: it is re-announced anyway.
    if (expired.length > 0) void this.#cmd.hdel(this.#hash, ...expired).catch(() => undefined);
    return out;
  }

  onCooldown(listener: CooldownListener): () => void {
    if (typeof listener !== 'function') throw invalidArgument('listener', 'a function', listener);
    this.#listeners.set(listener, new Map());
    // A listener that joins late (an executor built after connect) learns what is already cooling down.
    void this.cooldowns().then(
      (marks) => {
        for (const m of marks) this.#deliverTo(listener, m);
      },
      () => undefined,
    );
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async increment(key: string, delta: number, ttlMs: number): Promise<number> {
    checkKey(key, 'key');
    if (typeof delta !== 'number' || !Number.isFinite(delta)) throw invalidArgument('delta', 'a finite number', delta);
    checkMs(ttlMs, 'ttlMs');
    try {
      const v = await this.#cmd.eval(INCREMENT, 1, `${this.#prefix}c:${key}`, String(delta), String(Math.max(1, Math.round(ttlMs))));
      return Number(v);
    } catch (err) {
      this.errors++;
      throw stateError('increment', err);
    }
  }

  async counter(key: string): Promise<number> {
    checkKey(key, 'key');
    try {
      const v = await this.#cmd.get(`${this.#prefix}c:${key}`);
      return v === null ? 0 : Number(v);
    } catch (err) {
      this.errors++;
      throw stateError('counter', err);
    }
  }

  async getValue(key: string): Promise<string | undefined> {
    checkKey(key, 'key');
    try {
      const v = await this.#cmd.get(`${this.#prefix}v:${key}`);
      return v === null ? undefined : v;
    } catch (err) {
      this.errors++;
      throw stateError('getValue', err);
    }
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    checkKey(key, 'key');
    if (typeof value !== 'string') throw invalidArgument('value', 'a string', value);
    checkMs(ttlMs, 'ttlMs');
    try {
      await this.#cmd.set(`${this.#prefix}v:${key}`, value, 'PX', Math.max(1, Math.round(ttlMs)));
    } catch (err) {
      this.errors++;
      throw stateError('setValue', err);
    }
  }

  async reserve(key: string, amount: number, limit: number, ttlMs: number): Promise<number | null> {
    checkKey(key, 'key');
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) throw invalidArgument('amount', 'a finite number >= 0', amount);
    if (typeof limit !== 'number' || Number.isNaN(limit)) throw invalidArgument('limit', 'a number', limit);
    checkMs(ttlMs, 'ttlMs');
    try {
      const v = await this.#cmd.eval(RESERVE, 1, `${this.#prefix}c:${key}`, String(amount), String(limit), String(Math.max(1, Math.round(ttlMs))));
      return v === null ? null : Number(v);
    } catch (err) {
      this.errors++;
      throw stateError('reserve', err);
    }
  }

  async acquireLease(key: string, limit: number, ttlMs: number): Promise<string | null> {
    checkKey(key, 'key');
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw invalidArgument('limit', 'an integer >= 0', limit);
    checkMs(ttlMs, 'ttlMs');
    const token = randomUUID();
    try {
      // Replicas' clocks are compared through the expiry scores; NTP-level skew is far below a lease.
      const ok = await this.#cmd.eval(ACQUIRE, 1, `${this.#prefix}l:${key}`, String(Date.now()), String(limit), String(Math.max(1, Math.round(ttlMs))), token);
      return Number(ok) === 1 ? token : null;
    } catch (err) {
      this.errors++;
      throw stateError('acquireLease', err);
    }
  }

  async releaseLease(key: string, token: string): Promise<void> {
    checkKey(key, 'key');
    try {
      await this.#cmd.zrem(`${this.#prefix}l:${key}`, token);
    } catch (err) {
      this.errors++;
      throw stateError('releaseLease', err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await Promise.allSettled([this.#sub.quit(), this.#cmd.quit()]);
    this.#sub.disconnect();
    this.#cmd.disconnect();
  }

  #deliver(mark: CooldownMark): void {
    for (const l of this.#listeners.keys()) this.#deliverTo(l, mark);
  }

  #deliverTo(listener: CooldownListener, mark: CooldownMark): void {
    const heard = this.#listeners.get(listener);
    if (!heard) return; // removed meanwhile
    if ((heard.get(mark.model) ?? -Infinity) >= mark.until) return;
    heard.set(mark.model, mark.until);
    safeCall(listener, mark);
  }

  async #replay(): Promise<void> {
    if (this.#closed) return;
    try {
      for (const m of await this.cooldowns()) this.#deliver(m);
    } catch {
      // counted in errors; the next reconnect tries again
    }
  }
}

function safeCall(listener: CooldownListener, mark: CooldownMark): void {
  try {
    listener({ ...mark });
  } catch {
    // One faulty listener must not keep the others from hearing about the outage.
  }
}

function stateError(op: string, err: unknown): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_IO', `Redis state: ${op} failed: ${(err as Error).message}`, { cause: err });
}

function checkKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalidArgument(name, 'a non-empty string', key);
}

function checkMs(ms: unknown, name: string): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw invalidArgument(name, 'a finite number of milliseconds >= 0', ms);
}
