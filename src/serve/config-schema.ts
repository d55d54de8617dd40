/**
 * What a gateway config file is: one TypeBox schema for every field of the YAML/JSON file, compiled
 * once, and the translation of its first problem into the message an operator reads
 * (`gateway.yaml: field "keys[1].sha256" must be the 64-character hex SHA-256 of the key, got string "abc"`).
 *
 * Each leaf of the schema carries `expected`, the words that finish "must be ..."; a field that is
 * refused outright (a plain client key) carries `refused`, the reason. Domain rules that a schema cannot
 * say well (duplicate keys, the log spec's grammar, the Redis URL, which flags a section needs) stay as
 * code in src/serve/config.ts and src/learning/config.ts, with the same message shape ({@link fieldProblem}).
 * @module
 */
import { type Static, type TLiteral, type TObject, type TProperties, type TSchema, type TUnion, Type } from '@sinclair/typebox';
import { TypeCompiler, type ValueError, ValueErrorType } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

import { RoutecoreError, describe, didYouMean, isPlainObject } from '../errors.js';
import { POLICIES } from '../routing/policy.js';

/** The request log's levels (fastify's pino logger), quietest last; the default `warn` logs no request that went well. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A key's budget windows and their length in milliseconds (fixed windows; a "month" is 30 days). */
export const BUDGET_WINDOWS: Readonly<Record<string, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
  month: 30 * 86_400_000,
};

// ---- building blocks: each says in `expected` what a message tells the operator ----

/** An integer in [min, max]. */
const int = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max, expected: `an integer from ${min} to ${max}` });
/** A finite number in [min, max]. */
const num = (min: number, max: number) => Type.Number({ minimum: min, maximum: max, expected: `a number from ${min} to ${max}` });
/** A string with something other than white space in it. */
const text = (expected = 'a non-empty string') => Type.String({ pattern: '\\S', expected });
const bool = Type.Boolean({ expected: 'true or false' });
/** One of a few strings; `expected` defaults to "one of a, b, c". */
const oneOf = <const T extends readonly string[]>(values: T, expected = `one of ${values.join(', ')}`) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { expected },
  ) as unknown as TUnion<TLiteral<T[number]>[]>;
/** A mapping of exactly these fields (an unknown one is refused by name, with a did-you-mean hint). */
const mapping = <P extends TProperties>(properties: P, expected: string) => Type.Object(properties, { additionalProperties: false, expected });
const opt = Type.Optional;
/** What a field means, for people and editors (`description`; the JSON Schema export adds what it must be). */
const doc = <T extends TSchema>(schema: T, description: string): T => ({ ...schema, description });

/** Field names a mapping offers in hints: `$schema` (an editor's pointer) and refused fields are not offered. */
function offered(schema: TObject): string[] {
  return Object.entries(schema.properties)
    .filter(([name, s]) => !name.startsWith('$') && (s as TSchema)['refused'] === undefined)
    .map(([name]) => name);
}

/** `false` (the section is off) or the mapping; a message lists the mapping's fields. */
const offOr = <P extends TProperties>(description: string, properties: P) => {
  const fields = Object.keys(properties).filter((k) => !k.startsWith('$'));
  return Type.Union([Type.Literal(false), mapping(properties, `a mapping of ${fields.join(', ')}`)], { expected: `false or a mapping of ${fields.join(', ')}`, description });
};

/** The refusal of a field that must not be there, with why (`field "keys[0].key": plain client keys are not accepted ...`). */
const refused = (why: string) => opt(Type.Never({ refused: why }));

/** One entry of `keys:`; the key itself is never in the file, only its SHA-256. */
const KeyEntry = mapping(
  {
    name: doc(text(), 'a label for logs and metrics (team-a); never the key'),
    sha256: doc(Type.String({ pattern: '^[0-9a-fA-F]{64}$', expected: 'the 64-character hex SHA-256 of the key' }), 'the SHA-256 of the key as the client sends it (printf %s "$KEY" | sha256sum)'),
    key: refused('plain client keys are not accepted in the config; store "sha256: <hex>" (printf %s "$KEY" | sha256sum) or pass keys in ROUTECORE_API_KEYS'),
    models: opt(doc(Type.Array(text(), { minItems: 1, expected: 'a non-empty list of model names' }), 'model names this key may ask for (a trailing * is a prefix: routecore*); default all')),
    budgetUsd: opt(doc(Type.Number({ exclusiveMinimum: 0, expected: 'a number > 0' }), 'USD this key may spend per budget window; default unlimited')),
    budgetWindow: opt(doc(oneOf(Object.keys(BUDGET_WINDOWS)), 'the budget window (fixed windows; default day)')),
    requestsPerMinute: opt(doc(int(1, 10_000_000), 'requests per minute; default unlimited')),
    shadow: opt(doc(bool, 'false: this key\'s requests are never shadow-judged')),
  },
  'a mapping with name and sha256',
);

/** `cors.origins`: scheme and host, or `*`. */
const Origins = Type.Array(Type.String({ pattern: '^(\\*|https?://[^/\\s]+)$', expected: 'an origin like https://app.example.com (scheme and host, no path) or "*"' }), {
  minItems: 1,
  expected: 'a non-empty list of origins (https://app.example.com, or "*")',
});

/** The `log:` mapping (its string form, `sqlite:PATH` and friends, is parsed by src/serve/config.ts). */
const LogMapping = mapping(
  {
    kind: opt(oneOf(['sqlite', 'jsonl', 'none'], 'sqlite, jsonl or none')),
    path: opt(text()),
    batchSize: opt(int(1, 100_000)),
    flushMs: opt(int(1, 60_000)),
    storePrompts: opt(bool),
  },
  'a mapping with kind and path',
);

const UpstreamFields = {
  retries: opt(int(0, 10)),
  backoffMs: opt(int(0, 60_000)),
  maxRetryAfterMs: opt(int(0, 600_000)),
  cooldownMs: opt(int(0, 86_400_000)),
  maxAttempts: opt(int(1, 100)),
  anthropicMaxTokens: opt(int(1, 10_000_000)),
};

/**
 * The gateway config file (`routecore serve --config F`, YAML or JSON). Every field is optional here;
 * which ones are needed together (a registry from flag or file, a judge with a shadow rate) is decided
 * where flags and file meet, in src/serve/config.ts.
 */
export const ConfigFileSchema = mapping(
  {
    $schema: opt(Type.String({ expected: 'a string (the path or URL of a JSON schema, for editors)' })),
    registry: opt(doc(text(), 'the registry file (models, baseUrl, apiKeyEnv, prices), relative to this file')),
    router: opt(doc(text(), 'a .router file or an onnx predictor directory (default: the embedded router), relative to this file')),
    aliases: opt(doc(Type.Record(Type.String(), text(), { expected: 'a mapping of router model id to registry id' }), 'router model id to registry id (strong: gpt-4o)')),
    policy: opt(doc(oneOf(POLICIES), 'the policy of model "routecore" (default: the router\'s own)')),
    host: opt(doc(text(), 'the address to listen on (127.0.0.1 whatever this says while no client key is configured)')),
    port: opt(doc(int(0, 65535), 'the port (default 4000)')),
    timeoutMs: opt(doc(int(1, 3_600_000), 'per upstream attempt, in ms (default 60000)')),
    redis: opt(doc(text('a redis:// or rediss:// URL'), 'share cool-downs, budgets and rate limits with other replicas')),
    bodyLimitBytes: opt(doc(int(1024, 1024 * 1024 * 1024), 'request bodies above this are refused with 413 (default 32 MiB)')),
    cors: opt(Type.Union([Type.Literal(false), mapping({ origins: Origins }, 'a mapping with origins')], { expected: 'false or a mapping with origins', description: 'allowed browser origins (default: CORS off)' })),
    keys: opt(doc(Type.Array(KeyEntry, { expected: 'a list of {name, sha256, ...} entries' }), 'client keys (by SHA-256) and what each may do')),
    log: opt(Type.Union([Type.Literal(false), Type.String(), LogMapping], { expected: 'false, "sqlite:PATH", "jsonl:PATH", "none" or a mapping with kind and path', description: 'where decisions and outcomes are logged (default sqlite:routecore-log.sqlite)' })),
    upstream: opt(doc(mapping(UpstreamFields, `a mapping of ${Object.keys(UpstreamFields).join(', ')}`), 'retries, backoff and cool-downs of upstream calls, and the max_tokens an Anthropic upstream gets when a chat request sets none')),
    drainMs: opt(doc(int(0, 3_600_000), 'how long SIGTERM waits for in-flight requests, in ms (default 30000)')),
    watchRouter: opt(doc(bool, 'reload the router when its file changes (default true; SIGHUP always reloads)')),
    logLevel: opt(doc(oneOf(LOG_LEVELS), 'the request log\'s level (default warn)')),
    shadow: opt(
      offOr('shadow judging of a share of answered requests (docs/LEARNING.md)', {
        rate: opt(num(0, 1)),
        judge: opt(text()),
        comparison: opt(text()),
        focus: opt(num(0, 100)),
        budgetUsdPerDay: opt(num(0, 1e9)),
        maxConcurrent: opt(int(1, 10_000)),
        maxTokens: opt(int(1, 1_000_000)),
        judgeMaxTokens: opt(int(16, 1_000_000)),
        template: opt(text()),
      }),
    ),
    learn: opt(
      offOr('guarded retraining on the judged pairs (docs/LEARNING.md)', {
        everyMinutes: opt(num(0.01, 10_080)),
        minPairs: opt(int(10, 1e9)),
        holdout: opt(num(0.05, 0.95)),
        prior: opt(text()),
        priorWeight: opt(num(0, 1000)),
      }),
    ),
  },
  'a mapping of fields (registry, keys, log, ...)',
);

/** A config file that passed {@link ConfigFileSchema}. */
export type ConfigFile = Static<typeof ConfigFileSchema>;
/** A key entry of the file. */
export type KeyEntry = Static<typeof KeyEntry>;

/** The compiled check, built once at module load (a gateway reads its file once, a reload again). */
const fileCheck = TypeCompiler.Compile(ConfigFileSchema);

function bad(message: string): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_CONFIG', message);
}

/** `/keys/0/name` → `keys[0].name` (JSON-pointer escapes undone). */
function fieldOf(path: string): string {
  let out = '';
  for (const raw of path.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * The errors of one value, a union's replaced by those of the variant the value was meant to be (an
 * object for the mapping variant, an array for a list), so `log: {kind: postgres}` says `log.kind`,
 * not "log must be false, a string or a mapping". A value no variant's kind fits stays one union error.
 */
function flatten(errors: Iterable<ValueError>): ValueError[] {
  const out: ValueError[] = [];
  for (const e of errors) {
    if (e.type === ValueErrorType.Union) {
      const kind = Array.isArray(e.value) ? 'array' : isPlainObject(e.value) ? 'object' : undefined;
      const at = kind === undefined ? -1 : (e.schema['anyOf'] as TSchema[]).findIndex((v) => v['type'] === kind);
      if (at >= 0) {
        out.push(...flatten(e.errors[at]!));
        continue;
      }
    }
    out.push(e);
  }
  return out;
}

/** How early a problem is told: a refused field first, then an unknown field (a typo explains what looks missing), then the rest in file order. */
function rank(e: ValueError): number {
  if (e.schema['refused'] !== undefined) return 0;
  if (e.type === ValueErrorType.ObjectAdditionalProperties) return 1;
  return 2;
}

/** The message of one schema error, naming `source` (the file, or `command line`) and the field. */
function messageOf(e: ValueError, source: string, field: string): string {
  if (e.schema['refused'] !== undefined) return `${source}: field "${field}": ${e.schema['refused'] as string}`;
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const name = e.path.slice(e.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~');
    const known = offered(e.schema as TObject);
    const hint = didYouMean(name, known);
    return `${source}: unknown field "${field}"` + (hint ? ` (did you mean "${hint}"?)` : ` (known fields: ${known.join(', ')})`);
  }
  const expected = (e.schema['expected'] as string | undefined) ?? e.message;
  return `${source}: field "${field}" must be ${expected}, got ${describe(e.value)}`;
}

/**
 * Checks a parsed config file against {@link ConfigFileSchema}; throws `ERR_ROUTECORE_BAD_CONFIG`
 * naming `source` (the file's path) and the first field at fault.
 */
export function checkConfigFile(value: Record<string, unknown>, source: string): ConfigFile {
  if (fileCheck.Check(value)) return value as ConfigFile;
  const errors = flatten(fileCheck.Errors(value));
  const first = errors.reduce((a, b) => (rank(b) < rank(a) ? b : a));
  throw bad(messageOf(first, source, fieldOf(first.path)));
}

/**
 * Checks one value (a flag, converted) against a schema of the file; throws naming `source` and
 * `field` (`command line: field "--port" must be an integer from 0 to 65535, got string "abc"`).
 * `shown` is what the message quotes (the flag as typed), default the value.
 */
export function checkField<T>(schema: TSchema, value: unknown, source: string, field: string, shown: unknown = value): T {
  if (Value.Check(schema, value)) return value as T;
  const first = flatten(Value.Errors(schema, value))[0]!;
  throw bad(messageOf({ ...first, value: shown }, source, field + fieldOf(first.path)));
}

/**
 * The config file's schema as plain JSON Schema (draft 07) for editors and other tools: what
 * `routecore serve --config-schema` prints. Each field's `expected` becomes its `description` (the
 * hover text of an editor), a refused field is `not: {}` with the reason; TypeBox's own markers are
 * symbols and are left behind.
 */
export function configJsonSchema(): Record<string, unknown> {
  const plain = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(plain);
    if (!isPlainObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== 'expected' && k !== 'refused' && k !== 'description') out[k] = plain(v);
    const what = node['description'] as string | undefined;
    const must = node['expected'] as string | undefined;
    const refused = node['refused'] as string | undefined;
    const text = refused !== undefined ? `refused: ${refused}` : what !== undefined && must !== undefined ? `${what}; must be ${must}` : (what ?? (must !== undefined ? `must be ${must}` : undefined));
    if (text !== undefined) out['description'] = text;
    return out;
  };
  return { $schema: 'http://json-schema.org/draft-07/schema#', title: 'routecore serve --config file', ...(plain(ConfigFileSchema) as Record<string, unknown>) };
}

/** The one-line refusal in the shape every config message has, for rules kept as code. */
export function fieldProblem(source: string, field: string, expected: string, value: unknown, hint = ''): RoutecoreError {
  return bad(`${source}: field "${field}" must be ${expected}, got ${describe(value)}${hint}`);
}
