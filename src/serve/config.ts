/**
 * The gateway's configuration: command-line flags for what one replica needs, a YAML/JSON file for the
 * rest (client keys, per-key limits, logging, Redis, upstream behaviour). Every field is validated and
 * every message names the file and the field (`gateway.yaml: field "keys[1].sha256" must be ...`),
 * because a typo in a key or a budget should stop the gateway at start, not surface as a 401 at 3 am.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

import { RoutecoreError, describe, didYouMean, isPlainObject } from '../errors.js';
import { POLICIES, type PolicyName } from '../routing/policy.js';
import { resolveLearnConfig, resolveShadowConfig, type LearnConfig, type LearningFlags, type ShadowConfig } from '../learning/config.js';

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
/** The request log's levels (fastify's pino logger), quietest last; the default `warn` logs no request that went well. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
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

const TOP_FIELDS = [
  'registry', 'router', 'aliases', 'policy', 'host', 'port', 'timeoutMs', 'redis', 'bodyLimitBytes', 'cors', 'keys', 'log', 'upstream',
  'drainMs', 'watchRouter', 'logLevel', 'shadow', 'learn', '$schema',
];
const KEY_FIELDS = ['name', 'sha256', 'models', 'budgetUsd', 'budgetWindow', 'requestsPerMinute', 'shadow'];
const LOG_FIELDS = ['kind', 'path', 'batchSize', 'flushMs', 'storePrompts'];
const UPSTREAM_FIELDS = ['retries', 'backoffMs', 'maxRetryAfterMs', 'cooldownMs', 'maxAttempts'];
const CORS_FIELDS = ['origins'];
const WINDOWS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000, month: 30 * 86_400_000 };

/** Field checkers bound to one source (the file name, or `command line`). */
class Fields {
  constructor(readonly source: string) {}

  fail(field: string, expected: string, value: unknown): never {
    throw bad(`${this.source}: field "${field}" must be ${expected}, got ${describe(value)}`);
  }

  known(obj: Record<string, unknown>, known: readonly string[], prefix: string): void {
    for (const k of Object.keys(obj)) {
      if (known.includes(k)) continue;
      const hint = didYouMean(k, known);
      const where = prefix === '' ? `"${k}"` : `"${prefix}.${k}"`;
      throw bad(`${this.source}: unknown field ${where}` + (hint ? ` (did you mean "${hint}"?)` : ` (known fields: ${known.filter((f) => f !== '$schema').join(', ')})`));
    }
  }

  string(v: unknown, field: string): string {
    if (typeof v !== 'string' || v.trim() === '') this.fail(field, 'a non-empty string', v);
    return v as string;
  }

  int(v: unknown, field: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `an integer from ${min} to ${max}`, v);
    return v as number;
  }

  positive(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(field, 'a number > 0', v);
    return v as number;
  }

  bool(v: unknown, field: string): boolean {
    if (typeof v !== 'boolean') this.fail(field, 'true or false', v);
    return v as boolean;
  }
}

/** Reads and parses a config file (YAML or JSON, by extension; `.yml`/`.yaml` or anything else tried as YAML, which JSON is a subset of). */
function readConfigFile(path: string): Record<string, unknown> {
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
  return value;
}

function parseKeys(raw: unknown, f: Fields): ClientKey[] {
  if (!Array.isArray(raw)) f.fail('keys', 'a list of {name, sha256, ...} entries', raw);
  const keys: ClientKey[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  (raw as unknown[]).forEach((entry, i) => {
    const at = `keys[${i}]`;
    if (!isPlainObject(entry)) f.fail(at, 'a mapping with name and sha256', entry);
    const e = entry as Record<string, unknown>;
    if ('key' in e) throw bad(`${f.source}: field "${at}.key": plain client keys are not accepted in the config; store "sha256: <hex>" (printf %s "$KEY" | sha256sum) or pass keys in ROUTECORE_API_KEYS`);
    f.known(e, KEY_FIELDS, at);
    const name = f.string(e['name'], `${at}.name`);
    if (names.has(name)) throw bad(`${f.source}: field "${at}.name": "${name}" is used by two keys`);
    names.add(name);
    const sha = f.string(e['sha256'], `${at}.sha256`);
    if (!/^[0-9a-fA-F]{64}$/.test(sha)) f.fail(`${at}.sha256`, 'the 64-character hex SHA-256 of the key', sha);
    const sha256 = sha.toLowerCase();
    if (hashes.has(sha256)) throw bad(`${f.source}: field "${at}.sha256": the same key is listed twice`);
    hashes.add(sha256);
    const key: ClientKey = { name, sha256, budgetWindowMs: WINDOWS['day']! };
    if (e['models'] !== undefined) {
      if (!Array.isArray(e['models']) || e['models'].length === 0) f.fail(`${at}.models`, 'a non-empty list of model names', e['models']);
      key.models = (e['models'] as unknown[]).map((m, j) => f.string(m, `${at}.models[${j}]`));
    }
    if (e['budgetUsd'] !== undefined) key.budgetUsd = f.positive(e['budgetUsd'], `${at}.budgetUsd`);
    if (e['budgetWindow'] !== undefined) {
      const w = e['budgetWindow'];
      if (typeof w !== 'string' || WINDOWS[w] === undefined) f.fail(`${at}.budgetWindow`, `one of ${Object.keys(WINDOWS).join(', ')}`, w);
      key.budgetWindowMs = WINDOWS[w as string]!;
    }
    if (e['requestsPerMinute'] !== undefined) key.requestsPerMinute = f.int(e['requestsPerMinute'], `${at}.requestsPerMinute`, 1, 10_000_000);
    if (e['shadow'] !== undefined) key.shadow = f.bool(e['shadow'], `${at}.shadow`);
    keys.push(key);
  });
  return keys;
}

/** Keys from `ROUTECORE_API_KEYS` (comma-separated, whitespace trimmed): named `env-1`, `env-2`, ..., no limits. */
export function keysFromEnv(value: string | undefined): ClientKey[] {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((k) => k.trim());
  parts.forEach((k, i) => {
    if (k === '') throw bad(`ROUTECORE_API_KEYS: entry ${i + 1} is empty (keys are comma-separated, e.g. "key1,key2")`);
    if (k.length < 8) throw bad(`ROUTECORE_API_KEYS: entry ${i + 1} is ${k.length} characters long; a client key needs at least 8`);
  });
  return parts.map((k, i) => ({ name: `env-${i + 1}`, sha256: hashKey(k), budgetWindowMs: WINDOWS['day']! }));
}

/** `sqlite:PATH`, `jsonl:PATH`, `sqlite`, `jsonl` or `none` (the `--log` flag and the file's string form of `log`). */
function parseLogSpec(v: unknown, f: Fields, field: string): { kind: LogConfig['kind']; path?: string } {
  const expected = 'sqlite:PATH, jsonl:PATH, sqlite, jsonl or none';
  if (typeof v !== 'string') f.fail(field, expected, v);
  const spec = v as string;
  if (spec === 'none') return { kind: 'none' };
  const m = /^(sqlite|jsonl)(?::(.*))?$/.exec(spec);
  if (!m) {
    const hint = didYouMean(spec.split(':')[0]!, ['sqlite', 'jsonl', 'none']);
    throw bad(`${f.source}: field "${field}" must be ${expected}, got ${describe(v)}${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  if (m[2] !== undefined && m[2].trim() === '') f.fail(field, `${expected} (a path after "${m[1]}:")`, v);
  return m[2] === undefined ? { kind: m[1] as LogConfig['kind'] } : { kind: m[1] as LogConfig['kind'], path: m[2] };
}

function parsePolicy(v: unknown, f: Fields, field: string): PolicyName {
  if (typeof v !== 'string' || !POLICIES.includes(v as PolicyName)) f.fail(field, `one of ${POLICIES.join(', ')}`, v);
  return v as PolicyName;
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
  const fileFields = flags.config === undefined ? {} : readConfigFile(flags.config);
  const ff = new Fields(flags.config ?? 'config');
  const cli = new Fields('command line');
  ff.known(fileFields, TOP_FIELDS, '');
  const base = flags.config === undefined ? process.cwd() : dirname(resolve(flags.config));
  const filePath = (v: unknown, field: string): string => {
    const s = ff.string(v, field);
    return isAbsolute(s) ? s : resolve(base, s);
  };

  const registry = flags.registry ?? (fileFields['registry'] === undefined ? undefined : filePath(fileFields['registry'], 'registry'));
  if (registry === undefined) throw bad('routecore serve needs a registry: --registry M.json (or "registry:" in the config file)');
  const config: ServeConfig = {
    registry,
    host: '127.0.0.1',
    hostForcedLocal: false,
    port: DEFAULT_PORT,
    bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
    corsOrigins: [],
    keys: [],
    log: { kind: 'sqlite', path: '', batchSize: 1000, flushMs: 200, storePrompts: true },
    upstream: {},
    drainMs: DEFAULT_DRAIN_MS,
    watchRouter: true,
    logLevel: 'warn',
  };
  if (flags.config !== undefined) config.file = flags.config;

  if (flags.router !== undefined) config.router = flags.router;
  else if (fileFields['router'] !== undefined) config.router = fileFields['router'] === 'default' ? 'default' : filePath(fileFields['router'], 'router');

  const fileAliases = fileFields['aliases'];
  if (fileAliases !== undefined) {
    if (!isPlainObject(fileAliases)) ff.fail('aliases', 'a mapping of router model id to registry id', fileAliases);
    config.aliases = {};
    for (const [k, v] of Object.entries(fileAliases as Record<string, unknown>)) config.aliases[k] = ff.string(v, `aliases.${k}`);
  }
  if (flags.aliases !== undefined) config.aliases = { ...(config.aliases ?? {}), ...flags.aliases };

  if (flags.policy !== undefined) config.policy = parsePolicy(flags.policy, cli, '--policy');
  else if (fileFields['policy'] !== undefined) config.policy = parsePolicy(fileFields['policy'], ff, 'policy');

  let host: string | undefined;
  if (flags.host !== undefined) host = cli.string(flags.host, '--host');
  else if (fileFields['host'] !== undefined) host = ff.string(fileFields['host'], 'host');

  if (flags.port !== undefined) {
    const n = Number(flags.port);
    if (flags.port.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) cli.fail('--port', 'an integer from 0 to 65535', flags.port);
    config.port = n;
  } else if (fileFields['port'] !== undefined) config.port = ff.int(fileFields['port'], 'port', 0, 65535);

  if (flags.timeoutMs !== undefined) {
    const n = Number(flags.timeoutMs);
    if (flags.timeoutMs.trim() === '' || !Number.isInteger(n) || n < 1 || n > 3_600_000) cli.fail('--timeout-ms', 'an integer from 1 to 3600000', flags.timeoutMs);
    config.timeoutMs = n;
  } else if (fileFields['timeoutMs'] !== undefined) config.timeoutMs = ff.int(fileFields['timeoutMs'], 'timeoutMs', 1, 3_600_000);

  const redis = flags.redis ?? (fileFields['redis'] === undefined ? undefined : ff.string(fileFields['redis'], 'redis'));
  if (redis !== undefined) {
    const which = flags.redis !== undefined ? cli : ff;
    const field = flags.redis !== undefined ? '--redis' : 'redis';
    let ok = false;
    try {
      const u = new URL(redis);
      ok = u.protocol === 'redis:' || u.protocol === 'rediss:';
    } catch {
      ok = false;
    }
    if (!ok) which.fail(field, 'a redis:// or rediss:// URL', redis);
    config.redis = redis;
  }

  if (fileFields['bodyLimitBytes'] !== undefined) config.bodyLimitBytes = ff.int(fileFields['bodyLimitBytes'], 'bodyLimitBytes', 1024, 1024 * 1024 * 1024);
  if (fileFields['drainMs'] !== undefined) config.drainMs = ff.int(fileFields['drainMs'], 'drainMs', 0, 3_600_000);
  if (fileFields['watchRouter'] !== undefined) config.watchRouter = ff.bool(fileFields['watchRouter'], 'watchRouter');
  const level = flags.logLevel ?? fileFields['logLevel'];
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) (flags.logLevel !== undefined ? cli : ff).fail(flags.logLevel !== undefined ? '--log-level' : 'logLevel', `one of ${LOG_LEVELS.join(', ')}`, level);
    config.logLevel = level as LogLevel;
  }

  const cors = fileFields['cors'];
  if (cors !== undefined && cors !== false) {
    if (!isPlainObject(cors)) ff.fail('cors', 'false or a mapping with origins', cors);
    ff.known(cors as Record<string, unknown>, CORS_FIELDS, 'cors');
    const origins = (cors as Record<string, unknown>)['origins'];
    if (!Array.isArray(origins) || origins.length === 0) ff.fail('cors.origins', 'a non-empty list of origins (https://app.example.com, or "*")', origins);
    config.corsOrigins = (origins as unknown[]).map((o, i) => {
      const s = ff.string(o, `cors.origins[${i}]`);
      if (s !== '*' && !/^https?:\/\/[^/\s]+$/.test(s)) ff.fail(`cors.origins[${i}]`, 'an origin like https://app.example.com (scheme and host, no path) or "*"', s);
      return s;
    });
  }

  const log = fileFields['log'];
  if (log !== undefined) {
    if (log === false) config.log.kind = 'none';
    else if (typeof log === 'string') {
      const spec = parseLogSpec(log, ff, 'log');
      config.log.kind = spec.kind;
      if (spec.path !== undefined) config.log.path = filePath(spec.path, 'log');
    } else {
      if (!isPlainObject(log)) ff.fail('log', 'false, "sqlite:PATH", "jsonl:PATH", "none" or a mapping with kind and path', log);
      const l = log as Record<string, unknown>;
      ff.known(l, LOG_FIELDS, 'log');
      if (l['kind'] !== undefined) {
        if (l['kind'] !== 'sqlite' && l['kind'] !== 'jsonl' && l['kind'] !== 'none') ff.fail('log.kind', 'sqlite, jsonl or none', l['kind']);
        config.log.kind = l['kind'] as LogConfig['kind'];
      }
      if (l['path'] !== undefined) config.log.path = filePath(l['path'], 'log.path');
      if (l['batchSize'] !== undefined) config.log.batchSize = ff.int(l['batchSize'], 'log.batchSize', 1, 100_000);
      if (l['flushMs'] !== undefined) config.log.flushMs = ff.int(l['flushMs'], 'log.flushMs', 1, 60_000);
      if (l['storePrompts'] !== undefined) config.log.storePrompts = ff.bool(l['storePrompts'], 'log.storePrompts');
    }
    config.log.explicit = log === false || typeof log === 'string' || (isPlainObject(log) && log['kind'] !== undefined);
  }
  if (flags.log !== undefined) {
    // The flag replaces the file's kind and path (a path the flag does not give is the default one).
    const spec = parseLogSpec(flags.log, cli, '--log');
    config.log.kind = spec.kind;
    config.log.path = spec.path === undefined ? '' : resolve(process.cwd(), spec.path);
    config.log.explicit = true;
  }
  if (flags.logContent !== undefined) {
    if (flags.logContent !== 'prompts' && flags.logContent !== 'none') cli.fail('--log-content', 'prompts or none', flags.logContent);
    config.log.storePrompts = flags.logContent === 'prompts';
  }
  if (config.log.path === '') config.log.path = defaultLogPath(config.log.kind);

  const upstream = fileFields['upstream'];
  if (upstream !== undefined) {
    if (!isPlainObject(upstream)) ff.fail('upstream', `a mapping of ${UPSTREAM_FIELDS.join(', ')}`, upstream);
    const u = upstream as Record<string, unknown>;
    ff.known(u, UPSTREAM_FIELDS, 'upstream');
    if (u['retries'] !== undefined) config.upstream.retries = ff.int(u['retries'], 'upstream.retries', 0, 10);
    if (u['backoffMs'] !== undefined) config.upstream.backoffMs = ff.int(u['backoffMs'], 'upstream.backoffMs', 0, 60_000);
    if (u['maxRetryAfterMs'] !== undefined) config.upstream.maxRetryAfterMs = ff.int(u['maxRetryAfterMs'], 'upstream.maxRetryAfterMs', 0, 600_000);
    if (u['cooldownMs'] !== undefined) config.upstream.cooldownMs = ff.int(u['cooldownMs'], 'upstream.cooldownMs', 0, 86_400_000);
    if (u['maxAttempts'] !== undefined) config.upstream.maxAttempts = ff.int(u['maxAttempts'], 'upstream.maxAttempts', 1, 100);
  }

  const keys: ClientKey[] = fileFields['keys'] === undefined ? [] : parseKeys(fileFields['keys'], ff);
  const seen = new Set(keys.map((k) => k.sha256));
  // An env key that the file also lists takes the file's limits; the file entry is the one kept.
  for (const k of keysFromEnv(env['ROUTECORE_API_KEYS'])) if (!seen.has(k.sha256)) keys.push(k);
  config.keys = keys;

  const shadow = resolveShadowConfig(fileFields['shadow'], flags, flags.config ?? 'config', base);
  if (shadow) config.shadow = shadow;
  const learn = resolveLearnConfig(fileFields['learn'], flags, flags.config ?? 'config', base);
  if (learn) config.learn = learn;

  if (keys.length === 0) {
    config.host = '127.0.0.1';
    config.hostForcedLocal = host !== undefined && host !== '127.0.0.1' && host !== 'localhost';
  } else if (host !== undefined) {
    config.host = host;
  } else {
    config.host = '0.0.0.0';
  }
  return config;
}
