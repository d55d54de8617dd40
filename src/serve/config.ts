/**
 * The gateway's configuration: command-line flags for what one replica needs, a YAML/JSON file for the
 * rest (client keys, per-key limits, logging, Redis, upstream behaviour). What the file may hold is one
 * schema (src/serve/config-schema.ts); this module joins file, flags and environment, resolves paths and
 * defaults, and keeps the rules a schema does not say (duplicate keys, the log spec, the Redis URL).
 * Every message names the file and the field (`gateway.yaml: field "keys[1].sha256" must be ...`),
 * because a typo in a key or a budget should stop the gateway at start, not surface as a 401 at 3 am.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

import { RoutecoreError, describe, didYouMean, isPlainObject } from '../errors.js';
import type { PolicyName } from '../routing/policy.js';
import { resolveLearnConfig, resolveShadowConfig, type LearnConfig, type LearningFlags, type ShadowConfig } from '../learning/config.js';
import { BUDGET_WINDOWS, type ConfigFile, ConfigFileSchema, type KeyEntry, LOG_LEVELS, checkConfigFile, checkField, fieldProblem } from './config-schema.js';

/**
 * Request bodies above this many bytes are refused with 413 unless the config says otherwise: 32 MiB,
 * Anthropic's own request limit for the Messages API. A 1M-token context is about 4 MB of JSON text and
 * each base64 image (OpenAI accepts up to 20 MB per image) a third larger than its file, so 1 MiB
 * (the old default) refused ordinary long-context and image requests.
 */
export const DEFAULT_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
/** How long SIGTERM waits for in-flight requests before closing what is left. */
export const DEFAULT_DRAIN_MS = 30_000;
/** The port when neither flag nor file gives one (LiteLLM's and many OpenAI-compatible servers' default). */
export const DEFAULT_PORT = 4000;
export { LOG_LEVELS };
/** A level of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One client key and what it may do. The key itself is never stored: only its SHA-256. */
export interface ClientKey {
  /** A label for logs and metrics (`team-a`); never the key. */
  name: string;
  /** Lower-case hex SHA-256 of the key as the client sends it (after `Bearer `). */
  sha256: string;
  /** Model names this key may ask for (`routecore`, `routecore:cost`, a registry id); undefined = all. */
  models?: readonly string[];
  /** USD this key may spend per budget window; undefined = unlimited. */
  budgetUsd?: number;
  /** The budget's window in milliseconds (fixed windows). Default one day. */
  budgetWindowMs: number;
  /** Requests per minute; undefined = unlimited. */
  requestsPerMinute?: number;
  /** false: this key's requests are never shadow-judged (per-key opt-out). */
  shadow?: boolean;
}

/** Where decisions and outcomes are logged. */
export interface LogConfig {
  /** `sqlite` (default), `jsonl`, or `none`. */
  kind: 'sqlite' | 'jsonl' | 'none';
  /** The file; default `routecore-log.sqlite` / `routecore-log.jsonl` in the working directory. */
  path: string;
  /** Rows written per transaction at most. Default 1,000. */
  batchSize: number;
  /** Longest a row waits in memory before it is written. Default 200 ms. */
  flushMs: number;
  /** Whether the encoded prompt text is stored (needed to export training records). Default true. Answers are never stored. */
  storePrompts: boolean;
  /**
   * Whether the operator chose the kind (`--log`, `log:` in the file). The default SQLite log falls back
   * to JSONL when better-sqlite3 is absent (see {@link applyLogFallback}); a chosen one does not.
   */
  explicit?: boolean;
}

/** Executor settings exposed to operators (see src/execution/executor.ts for the semantics). */
export interface UpstreamConfig {
  retries?: number;
  backoffMs?: number;
  maxRetryAfterMs?: number;
  cooldownMs?: number;
  maxAttempts?: number;
  /** `max_tokens` for an Anthropic upstream when a chat request sets none (default 4,096). */
  anthropicMaxTokens?: number;
}

/** The complete, validated configuration of one gateway replica. */
export interface ServeConfig {
  /** Registry file (models, baseUrl, apiKeyEnv, prices); required. */
  registry: string;
  /** Router file; default the embedded router. */
  router?: string;
  /** Router model id → registry id. */
  aliases?: Record<string, string>;
  /** Default policy for `routecore` requests. */
  policy?: PolicyName;
  host: string;
  /** Whether `host` was chosen by the gateway (no keys configured) rather than by the operator. */
  hostForcedLocal: boolean;
  port: number;
  /** Per upstream attempt (headers, and between body bytes). */
  timeoutMs?: number;
  /** Redis URL for shared state across replicas; undefined = per-process state. */
  redis?: string;
  bodyLimitBytes: number;
  /** Allowed CORS origins; empty = CORS off (no `access-control-*` headers at all). */
  corsOrigins: readonly string[];
  keys: readonly ClientKey[];
  log: LogConfig;
  upstream: UpstreamConfig;
  drainMs: number;
  /** Reload the router when its file changes (SIGHUP always reloads). Default true. */
  watchRouter: boolean;
  /** The request log's level (pino, JSON lines on stdout with request ids); default `warn`. */
  logLevel: LogLevel;
  /** The config file read, if any. */
  file?: string;
  /** Shadow judging (docs/LEARNING.md); undefined = off. */
  shadow?: ShadowConfig;
  /** Guarded retraining on the judged pairs (`--learn`); undefined = off. */
  learn?: LearnConfig;
}

/** What the command line gave; undefined = not given. */
export interface ServeFlags extends LearningFlags {
  registry?: string;
  router?: string;
  aliases?: Record<string, string>;
  policy?: string;
  port?: string;
  host?: string;
  config?: string;
  redis?: string;
  timeoutMs?: string;
  /** `--log sqlite:PATH|jsonl:PATH|sqlite|jsonl|none`. */
  log?: string;
  /** `--log-content prompts|none`: whether prompt text is kept (`none`: metadata only). */
  logContent?: string;
  logLevel?: string;
}

function bad(message: string): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_CONFIG', message);
}

/** The SHA-256 of a client key, lower-case hex: what the config stores and what requests are compared by. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const FLAGS = 'command line';

/** Reads and parses a config file (YAML or JSON, by extension; `.yml`/`.yaml` or anything else tried as YAML, which JSON is a subset of), and checks it against the schema. */
function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read config file "${path}": ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const e = err as Error & { linePos?: { line: number; col: number }[] };
    const where = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    throw bad(`${path}${where}: not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}`);
  }
  if (!isPlainObject(value)) throw bad(`${path}: the top level must be a mapping of fields (registry, keys, log, ...), got ${describe(value)}`);
  return checkConfigFile(value, path);
}

/** The file's keys (already shaped by the schema) with the rules between entries: no name or key twice. */
function parseKeys(entries: readonly KeyEntry[], source: string): ClientKey[] {
  const names = new Set<string>();
  const hashes = new Set<string>();
  return entries.map((e, i) => {
    const at = `keys[${i}]`;
    if (names.has(e.name)) throw bad(`${source}: field "${at}.name": "${e.name}" is used by two keys`);
    names.add(e.name);
    const sha256 = e.sha256.toLowerCase();
    if (hashes.has(sha256)) throw bad(`${source}: field "${at}.sha256": the same key is listed twice`);
    hashes.add(sha256);
    const key: ClientKey = { name: e.name, sha256, budgetWindowMs: BUDGET_WINDOWS[e.budgetWindow ?? 'day']! };
    if (e.models !== undefined) key.models = e.models;
    if (e.budgetUsd !== undefined) key.budgetUsd = e.budgetUsd;
    if (e.requestsPerMinute !== undefined) key.requestsPerMinute = e.requestsPerMinute;
    if (e.shadow !== undefined) key.shadow = e.shadow;
    return key;
  });
}

/** Keys from `ROUTECORE_API_KEYS` (comma-separated, whitespace trimmed): named `env-1`, `env-2`, ..., no limits. */
export function keysFromEnv(value: string | undefined): ClientKey[] {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((k) => k.trim());
  parts.forEach((k, i) => {
    if (k === '') throw bad(`ROUTECORE_API_KEYS: entry ${i + 1} is empty (keys are comma-separated, e.g. "key1,key2")`);
    if (k.length < 8) throw bad(`ROUTECORE_API_KEYS: entry ${i + 1} is ${k.length} characters long; a client key needs at least 8`);
  });
  return parts.map((k, i) => ({ name: `env-${i + 1}`, sha256: hashKey(k), budgetWindowMs: BUDGET_WINDOWS['day']! }));
}

/** `sqlite:PATH`, `jsonl:PATH`, `sqlite`, `jsonl` or `none` (the `--log` flag and the file's string form of `log`). */
function parseLogSpec(spec: string, source: string, field: string): { kind: LogConfig['kind']; path?: string } {
  const expected = 'sqlite:PATH, jsonl:PATH, sqlite, jsonl or none';
  if (spec === 'none') return { kind: 'none' };
  const m = /^(sqlite|jsonl)(?::(.*))?$/.exec(spec);
  if (!m) {
    const hint = didYouMean(spec.split(':')[0]!, ['sqlite', 'jsonl', 'none']);
    throw fieldProblem(source, field, expected, spec, hint ? ` (did you mean "${hint}"?)` : '');
  }
  if (m[2] !== undefined && m[2].trim() === '') throw fieldProblem(source, field, `${expected} (a path after "${m[1]}:")`, spec);
  return m[2] === undefined ? { kind: m[1] as LogConfig['kind'] } : { kind: m[1] as LogConfig['kind'], path: m[2] };
}

/** A Redis URL: the schema says "a non-empty string"; only the URL parser can say "redis:// or rediss://". */
function checkRedisUrl(url: string, source: string, field: string): string {
  let ok = false;
  try {
    const u = new URL(url);
    ok = u.protocol === 'redis:' || u.protocol === 'rediss:';
  } catch {
    ok = false;
  }
  if (!ok) throw fieldProblem(source, field, 'a redis:// or rediss:// URL', url);
  return url;
}

/** An integer flag as the file's schema for the same field checks it (`--port abc` is refused quoting "abc"). */
function intFlag(value: string, field: keyof typeof ConfigFileSchema.properties, flag: string): number {
  return checkField<number>(ConfigFileSchema.properties[field], value.trim() === '' ? Number.NaN : Number(value), FLAGS, flag, value);
}

/** `routecore-log.sqlite` / `routecore-log.jsonl` in the working directory. */
function defaultLogPath(kind: LogConfig['kind']): string {
  return resolve(process.cwd(), kind === 'jsonl' ? 'routecore-log.jsonl' : 'routecore-log.sqlite');
}

/**
 * The default log is SQLite, whose driver (better-sqlite3) is an optional peer: when it cannot be loaded
 * and the operator did not choose the kind, the log becomes JSONL beside where the SQLite file would have
 * been, and the returned one-line notice says so (undefined: nothing changed). A log the operator chose
 * is left alone, so `--log sqlite:...` without the driver still stops the gateway with the install hint.
 * `probe` returns why SQLite cannot be used (`is not installed`), or undefined when it can.
 */
export function applyLogFallback(config: ServeConfig, probe: () => string | undefined): string | undefined {
  if (config.log.kind !== 'sqlite' || config.log.explicit) return undefined;
  const why = probe();
  if (why === undefined) return undefined;
  const jsonl = config.log.path.endsWith('.sqlite') ? `${config.log.path.slice(0, -'.sqlite'.length)}.jsonl` : `${config.log.path}.jsonl`;
  config.log = { ...config.log, kind: 'jsonl', path: jsonl };
  return `the default SQLite log needs better-sqlite3, which ${why}: logging to JSONL at ${jsonl} instead (npm install better-sqlite3@12 for SQLite; --log jsonl:PATH|sqlite:PATH|none chooses)`;
}

/** What the log keeps and where, for the gateway's startup line. */
export function describeLog(log: LogConfig): string {
  if (log.kind === 'none') return 'log: none (nothing is kept; --log jsonl:PATH or sqlite:PATH to keep decisions and outcomes)';
  const what = log.storePrompts
    ? 'decisions, outcomes and prompt text, not answers (--log-content none: metadata only)'
    : 'decisions and outcomes without prompt or answer text (metadata only)';
  return `log: ${log.kind} ${log.path}: ${what}`;
}

/**
 * Builds the configuration from flags, an optional file and the environment. Flags win over the file.
 * Paths in the file are relative to the file's folder; paths on the command line to the working directory.
 * With no client key anywhere the gateway binds 127.0.0.1 whatever `host` says (and says so at start),
 * since an open gateway spends its operator's upstream credit for anyone who finds it.
 */
export function resolveServeConfig(flags: ServeFlags, env: Record<string, string | undefined> = process.env): ServeConfig {
  const file: ConfigFile = flags.config === undefined ? {} : readConfigFile(flags.config);
  const source = flags.config ?? 'config';
  const props = ConfigFileSchema.properties;
  const base = flags.config === undefined ? process.cwd() : dirname(resolve(flags.config));
  const filePath = (s: string): string => (isAbsolute(s) ? s : resolve(base, s));

  const registry = flags.registry ?? (file.registry === undefined ? undefined : filePath(file.registry));
  if (registry === undefined) throw bad('routecore serve needs a registry: --registry M.json (or "registry:" in the config file)');
  const config: ServeConfig = {
    registry,
    host: '127.0.0.1',
    hostForcedLocal: false,
    port: DEFAULT_PORT,
    bodyLimitBytes: file.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    corsOrigins: file.cors ? file.cors.origins : [],
    keys: [],
    log: { kind: 'sqlite', path: '', batchSize: 1000, flushMs: 200, storePrompts: true },
    upstream: { ...file.upstream },
    drainMs: file.drainMs ?? DEFAULT_DRAIN_MS,
    watchRouter: file.watchRouter ?? true,
    logLevel: 'warn',
  };
  if (flags.config !== undefined) config.file = flags.config;

  if (flags.router !== undefined) config.router = flags.router;
  else if (file.router !== undefined) config.router = file.router === 'default' ? 'default' : filePath(file.router);

  if (file.aliases !== undefined) config.aliases = { ...file.aliases };
  if (flags.aliases !== undefined) config.aliases = { ...(config.aliases ?? {}), ...flags.aliases };

  if (flags.policy !== undefined) config.policy = checkField<PolicyName>(props.policy, flags.policy, FLAGS, '--policy');
  else if (file.policy !== undefined) config.policy = file.policy;

  const host = flags.host !== undefined ? checkField<string>(props.host, flags.host, FLAGS, '--host') : file.host;

  if (flags.port !== undefined) config.port = intFlag(flags.port, 'port', '--port');
  else if (file.port !== undefined) config.port = file.port;

  if (flags.timeoutMs !== undefined) config.timeoutMs = intFlag(flags.timeoutMs, 'timeoutMs', '--timeout-ms');
  else if (file.timeoutMs !== undefined) config.timeoutMs = file.timeoutMs;

  if (flags.redis !== undefined) config.redis = checkRedisUrl(flags.redis, FLAGS, '--redis');
  else if (file.redis !== undefined) config.redis = checkRedisUrl(file.redis, source, 'redis');

  if (flags.logLevel !== undefined) config.logLevel = checkField<LogLevel>(props.logLevel, flags.logLevel, FLAGS, '--log-level');
  else if (file.logLevel !== undefined) config.logLevel = file.logLevel;

  const log = file.log;
  if (log === false) config.log.kind = 'none';
  else if (typeof log === 'string') {
    const spec = parseLogSpec(log, source, 'log');
    config.log.kind = spec.kind;
    if (spec.path !== undefined) config.log.path = filePath(spec.path);
  } else if (log !== undefined) {
    if (log.kind !== undefined) config.log.kind = log.kind;
    if (log.path !== undefined) config.log.path = filePath(log.path);
    if (log.batchSize !== undefined) config.log.batchSize = log.batchSize;
    if (log.flushMs !== undefined) config.log.flushMs = log.flushMs;
    if (log.storePrompts !== undefined) config.log.storePrompts = log.storePrompts;
  }
  if (log !== undefined) config.log.explicit = log === false || typeof log === 'string' || log.kind !== undefined;
  if (flags.log !== undefined) {
    // The flag replaces the file's kind and path (a path the flag does not give is the default one).
    const spec = parseLogSpec(flags.log, FLAGS, '--log');
    config.log.kind = spec.kind;
    config.log.path = spec.path === undefined ? '' : resolve(process.cwd(), spec.path);
    config.log.explicit = true;
  }
  if (flags.logContent !== undefined) {
    if (flags.logContent !== 'prompts' && flags.logContent !== 'none') throw fieldProblem(FLAGS, '--log-content', 'prompts or none', flags.logContent);
    config.log.storePrompts = flags.logContent === 'prompts';
  }
  if (config.log.path === '') config.log.path = defaultLogPath(config.log.kind);

  const keys: ClientKey[] = file.keys === undefined ? [] : parseKeys(file.keys, source);
  const seen = new Set(keys.map((k) => k.sha256));
  // An env key that the file also lists takes the file's limits; the file entry is the one kept.
  for (const k of keysFromEnv(env['ROUTECORE_API_KEYS'])) if (!seen.has(k.sha256)) keys.push(k);
  config.keys = keys;

  const shadow = resolveShadowConfig(file.shadow, flags, source, base);
  if (shadow) config.shadow = shadow;
  const learn = resolveLearnConfig(file.learn, flags, base);
  if (learn) config.learn = learn;

  if (keys.length === 0) {
    // Without keys only a loopback address is served: the one asked for when it is one (::1 included).
    const loopback = host === '127.0.0.1' || host === 'localhost' || host === '::1';
    config.host = loopback ? host : '127.0.0.1';
    config.hostForcedLocal = host !== undefined && !loopback;
  } else if (host !== undefined) {
    config.host = host;
  } else {
    config.host = '0.0.0.0';
  }
  return config;
}
