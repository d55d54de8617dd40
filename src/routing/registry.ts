/**
 * The model registry: which models a deployment can call, their prices, latency and limits.
 * Loaded from JSON or YAML and validated strictly, because a typo in a price silently skews every
 * cost-aware routing decision.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RoutecoreError, describe, didYouMean, invalidArgument, isPlainObject } from '../errors.js';

/** Output tokens assumed per query when a model sets no `expectedOutputTokens`. */
export const DEFAULT_EXPECTED_OUTPUT_TOKENS = 256;

/** One callable model. Prices are USD per million tokens. */
export interface ModelEntry {
  /** The id the router was trained with, e.g. `gpt-4-1106-preview`. */
  id: string;
  /** Free-form provider name, e.g. `openai`. */
  provider?: string;
  /** Absolute http(s) URL of the model's API. */
  baseUrl?: string;
  /** Name of the environment variable holding the API key (never the key itself). */
  apiKeyEnv?: string;
  /** USD per million prompt tokens. */
  inputCostPer1M?: number;
  /** USD per million generated tokens. */
  outputCostPer1M?: number;
  /**
   * USD per million prompt tokens read from the provider's prompt cache (OpenAI's
   * `prompt_tokens_details.cached_tokens`, Anthropic's `cache_read_input_tokens`). Default: a tenth of
   * `inputCostPer1M` on the `anthropic-messages` wire (Anthropic's rate), `inputCostPer1M` otherwise
   * (providers discount differently; set it to count the discount).
   */
  cacheReadCostPer1M?: number;
  /** USD per million prompt tokens written to the cache (Anthropic's `cache_creation_input_tokens`). Default: 1.25 × `inputCostPer1M` on the `anthropic-messages` wire, `inputCostPer1M` otherwise. */
  cacheWriteCostPer1M?: number;
  /** Typical generated tokens per query, for cost estimates; default 256. */
  expectedOutputTokens?: number;
  /** Typical end-to-end latency of one query in milliseconds. */
  latencyMs?: number;
  /** Maximum prompt + output tokens, a positive integer. */
  contextWindow?: number;
  /** Free-form capability tags such as `tools` or `vision`; default []. */
  capabilities: readonly string[];
  /** Disabled models stay in the file but are never routed to; default true. */
  enabled: boolean;
  /**
   * The API the upstream speaks: `openai-chat` (chat completions; the default), `openai-responses`
   * (chat completions and OpenAI's Responses API: `/v1/responses` requests pass through unchanged) or
   * `anthropic-messages` (Anthropic's Messages API; the default when `provider` is `anthropic`).
   */
  wire: Wire;
}

/** The upstream APIs routecore can call (a registry entry's `wire`). */
export const WIRES = ['openai-chat', 'openai-responses', 'anthropic-messages'] as const;
/** One of {@link WIRES}. */
export type Wire = (typeof WIRES)[number];

/** What a registry file or object may hold per model: everything but `id` is optional. */
export type ModelEntryInput = Partial<ModelEntry> & { id: string };

const KNOWN_FIELDS: readonly string[] = [
  'id',
  'provider',
  'baseUrl',
  'apiKeyEnv',
  'inputCostPer1M',
  'outputCostPer1M',
  'cacheReadCostPer1M',
  'cacheWriteCostPer1M',
  'expectedOutputTokens',
  'latencyMs',
  'contextWindow',
  'capabilities',
  'enabled',
  'wire',
];
const KNOWN_FIELD_SET: ReadonlySet<string> = new Set(KNOWN_FIELDS);
const TOP_LEVEL_FIELDS: readonly string[] = ['models', '$schema'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function badRegistry(message: string, cause?: unknown): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_REGISTRY', message, cause === undefined ? undefined : { cause });
}

/** Validates one raw model object; messages name the source, then the model by id (or by index when the id is unusable). */
function validateEntry(raw: unknown, index: number, source: string): ModelEntry {
  if (!isPlainObject(raw)) {
    throw badRegistry(`${source}: model at index ${index} must be an object, got ${describe(raw)}`);
  }
  const rawId = raw['id'];
  const hasId = typeof rawId === 'string' && rawId.trim() !== '';
  const where = hasId ? `${source}: model "${rawId}"` : `${source}: model at index ${index}`;
  if (!hasId) {
    throw badRegistry(`${where}: field "id" must be a non-empty string, got ${describe(rawId)}`);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELD_SET.has(key)) {
      const hint = didYouMean(key, KNOWN_FIELDS);
      throw badRegistry(
        `${where}: unknown field "${key}"` +
          (hint ? ` (did you mean "${hint}"?)` : ` (known fields: ${KNOWN_FIELDS.join(', ')})`),
      );
    }
  }

  const fail = (field: string, expected: string): never => {
    throw badRegistry(`${where}: field "${field}" must be ${expected}, got ${describe(raw[field])}`);
  };
  const optString = (field: string): string | undefined => {
    const v = raw[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') fail(field, 'a non-empty string');
    return v as string;
  };
  const optNonNegative = (field: string): number | undefined => {
    const v = raw[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(field, 'a non-negative number');
    return v as number;
  };

  const entry: { -readonly [K in keyof ModelEntry]: ModelEntry[K] } = {
    id: rawId as string,
    capabilities: [],
    enabled: true,
    wire: 'openai-chat',
  };
  const provider = optString('provider');
  if (provider !== undefined) entry.provider = provider;

  const wire = optString('wire');
  if (wire !== undefined && !(WIRES as readonly string[]).includes(wire)) fail('wire', WIRES.map((w) => `"${w}"`).join(', ').replace(/, ([^,]*)$/, ' or $1'));
  entry.wire = (wire as Wire | undefined) ?? (provider?.toLowerCase() === 'anthropic' ? 'anthropic-messages' : 'openai-chat');

  const baseUrl = optString('baseUrl');
  if (baseUrl !== undefined) {
    let ok = false;
    try {
      const u = new URL(baseUrl);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) fail('baseUrl', 'an absolute http(s) URL');
    entry.baseUrl = baseUrl;
  }

  const apiKeyEnv = optString('apiKeyEnv');
  if (apiKeyEnv !== undefined) {
    // A pasted secret instead of a variable name would end up in logs; insist on a variable name.
    if (!ENV_NAME.test(apiKeyEnv)) fail('apiKeyEnv', 'an environment variable name such as "OPENAI_API_KEY"');
    entry.apiKeyEnv = apiKeyEnv;
  }

  const inCost = optNonNegative('inputCostPer1M');
  const outCost = optNonNegative('outputCostPer1M');
  // Half a price would make the model look cheaper than it is in every cost-aware decision.
  if ((inCost === undefined) !== (outCost === undefined)) {
    const [given, missing] = inCost === undefined ? ['outputCostPer1M', 'inputCostPer1M'] : ['inputCostPer1M', 'outputCostPer1M'];
    throw badRegistry(`${where}: field "${given}" is set but "${missing}" is not; give both prices (0 is allowed) or neither`);
  }
  if (inCost !== undefined) entry.inputCostPer1M = inCost;
  if (outCost !== undefined) entry.outputCostPer1M = outCost;
  for (const field of ['cacheReadCostPer1M', 'cacheWriteCostPer1M'] as const) {
    const v = optNonNegative(field);
    if (v === undefined) continue;
    if (inCost === undefined) throw badRegistry(`${where}: field "${field}" is set but "inputCostPer1M" is not; a cache price refines the input price`);
    entry[field] = v;
  }

  const expectedOutputTokens = optNonNegative('expectedOutputTokens');
  if (expectedOutputTokens !== undefined) entry.expectedOutputTokens = expectedOutputTokens;
  const latencyMs = optNonNegative('latencyMs');
  if (latencyMs !== undefined) entry.latencyMs = latencyMs;

  const cw = raw['contextWindow'];
  if (cw !== undefined) {
    if (typeof cw !== 'number' || !Number.isSafeInteger(cw) || cw <= 0) fail('contextWindow', 'a positive integer');
    entry.contextWindow = cw as number;
  }

  const caps = raw['capabilities'];
  if (caps !== undefined) {
    if (!Array.isArray(caps)) fail('capabilities', 'an array of strings');
    const list = caps as unknown[];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (typeof c !== 'string' || c.trim() === '') {
        throw badRegistry(`${where}: field "capabilities" must be an array of non-empty strings, but item ${i} is ${describe(c)}`);
      }
    }
    entry.capabilities = Object.freeze([...new Set(list as string[])]);
  } else {
    entry.capabilities = Object.freeze([]);
  }

  const enabled = raw['enabled'];
  if (enabled !== undefined) {
    if (typeof enabled !== 'boolean') fail('enabled', 'a boolean');
    entry.enabled = enabled as boolean;
  }
  return Object.freeze(entry);
}

/** Turns a JSON.parse message's "position N" into a line number so the user can jump to it. */
function jsonErrorLine(text: string, message: string): { line: number; column: number } | undefined {
  const m = /position (\d+)/.exec(message);
  if (!m) return undefined;
  const pos = Math.min(Number(m[1]), text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

/** A validated, immutable set of models; build it with {@link Registry.fromFile} or {@link Registry.fromObject}. */
export class Registry {
  readonly #entries: readonly ModelEntry[];
  readonly #byId: ReadonlyMap<string, ModelEntry>;
  /** Where the registry came from (a file path or `<object>`), for messages. */
  readonly source: string;

  private constructor(entries: readonly ModelEntry[], source: string) {
    this.#entries = Object.freeze(entries.slice());
    this.#byId = new Map(entries.map((e) => [e.id, e]));
    this.source = source;
  }

  /**
   * Loads and validates a registry file (`.json`, `.yaml` or `.yml`), synchronously.
   * @throws RoutecoreError `ERR_ROUTECORE_IO` when the file cannot be read, `ERR_ROUTECORE_BAD_REGISTRY`
   *   for an unsupported extension, a syntax error (with line and column) or an invalid entry.
   */
  static fromFile(path: string): Registry {
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a non-empty file path string', path);
    const ext = extname(path).toLowerCase();
    if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
      throw badRegistry(`${path}: unsupported registry file extension "${ext}"; use .json, .yaml or .yml`);
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read registry file "${path}": ${why}`, { cause: err });
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    let value: unknown;
    if (ext === '.json') {
      try {
        value = JSON.parse(text);
      } catch (err) {
        const msg = (err as Error).message;
        const at = jsonErrorLine(text, msg);
        throw badRegistry(`${path}${at ? `:${at.line}:${at.column}` : ''}: invalid JSON (${msg})`, err);
      }
    } else {
      try {
        value = parseYaml(text);
      } catch (err) {
        const e = err as Error & { linePos?: { line: number; col: number }[] };
        const pos = e.linePos?.[0];
        const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        throw badRegistry(`${path}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML (${first})`, err);
      }
    }
    return Registry.fromObject(value, path);
  }

  /**
   * Validates a registry given as `{ models: [...] }` or a bare array of model objects.
   * @param source names the origin in error messages; default `<object>`
   * @throws RoutecoreError `ERR_ROUTECORE_BAD_REGISTRY` naming the source, the model and the field
   */
  static fromObject(value: unknown, source: string = '<object>'): Registry {
    if (typeof source !== 'string' || source === '') throw invalidArgument('source', 'a non-empty string', source);
    let list: unknown;
    if (Array.isArray(value)) {
      list = value;
    } else if (isPlainObject(value)) {
      for (const key of Object.keys(value)) {
        if (!TOP_LEVEL_FIELDS.includes(key)) {
          const hint = didYouMean(key, TOP_LEVEL_FIELDS);
          throw badRegistry(`${source}: unknown top-level field "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; expected { "models": [...] }`);
        }
      }
      list = value['models'];
      if (!Array.isArray(list)) {
        throw badRegistry(`${source}: field "models" must be an array of models, got ${describe(list)}`);
      }
    } else {
      throw badRegistry(`${source}: expected { "models": [...] } or an array of models, got ${describe(value)}`);
    }
    const raw = list as unknown[];
    if (raw.length === 0) throw badRegistry(`${source}: the registry lists no models`);
    const entries: ModelEntry[] = [];
    const firstIndex = new Map<string, number>();
    for (let i = 0; i < raw.length; i++) {
      const entry = validateEntry(raw[i], i, source);
      const prev = firstIndex.get(entry.id);
      if (prev !== undefined) {
        throw badRegistry(`${source}: duplicate model id "${entry.id}" at index ${prev} and index ${i}`);
      }
      firstIndex.set(entry.id, i);
      entries.push(entry);
    }
    return new Registry(entries, source);
  }

  /** The model with this id, or undefined. */
  get(id: string): ModelEntry | undefined {
    if (typeof id !== 'string') throw invalidArgument('id', 'a model id string', id);
    return this.#byId.get(id);
  }

  /** Whether the registry lists this id (enabled or not). */
  has(id: string): boolean {
    if (typeof id !== 'string') throw invalidArgument('id', 'a model id string', id);
    return this.#byId.has(id);
  }

  /**
   * Whether the registry prices this model (both rates are set: a file that gives one must give the
   * other). Priced models are costed from the registry; the rest from training data or predictions.
   */
  prices(id: string): boolean {
    const e = this.get(id);
    return e?.inputCostPer1M !== undefined && e.outputCostPer1M !== undefined;
  }

  /** All ids in file order, enabled or not. */
  ids(): string[] {
    return this.#entries.map((e) => e.id);
  }

  /** All entries in file order (frozen). */
  entries(): readonly ModelEntry[] {
    return this.#entries;
  }

  /**
   * Expected USD cost of one query from the registry's prices:
   * `promptTokens × inputCostPer1M / 1e6 + expectedOutputTokens × outputCostPer1M / 1e6`, with
   * `expectedOutputTokens` defaulting to 256. Undefined when the model has no price or is not listed,
   * so callers can fall back to costs measured in their data.
   * @param promptTokens prompt length in tokens, a finite number >= 0
   */
  expectedCost(id: string, promptTokens: number): number | undefined {
    if (typeof id !== 'string') throw invalidArgument('id', 'a model id string', id);
    if (typeof promptTokens !== 'number' || !Number.isFinite(promptTokens) || promptTokens < 0) {
      throw invalidArgument('promptTokens', 'a finite number >= 0', promptTokens);
    }
    const e = this.#byId.get(id);
    if (!e || e.inputCostPer1M === undefined || e.outputCostPer1M === undefined) return undefined;
    const out = e.expectedOutputTokens ?? DEFAULT_EXPECTED_OUTPUT_TOKENS;
    return (promptTokens * e.inputCostPer1M + out * e.outputCostPer1M) / 1e6;
  }
}
