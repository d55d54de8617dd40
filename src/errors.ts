/**
 * The one error type routecore throws, with a stable machine-readable code, plus helpers that keep
 * error messages uniform across the library.
 */

/** Stable error codes; callers may switch on them, so existing codes are never renamed. */
export type ErrorCode =
  | 'ERR_ROUTECORE_INVALID_ARGUMENT'
  | 'ERR_ROUTECORE_BAD_ARTIFACT'
  | 'ERR_ROUTECORE_ARTIFACT_VERSION'
  | 'ERR_ROUTECORE_BACKEND_UNAVAILABLE'
  | 'ERR_ROUTECORE_BAD_BACKEND'
  | 'ERR_ROUTECORE_BAD_DATA'
  | 'ERR_ROUTECORE_BAD_REGISTRY'
  | 'ERR_ROUTECORE_IO'
  | 'ERR_ROUTECORE_DISPOSED'
  | 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL'
  | 'ERR_ROUTECORE_ADDON_UNAVAILABLE'
  | 'ERR_ROUTECORE_UPSTREAM'
  | 'ERR_ROUTECORE_UPSTREAM_REJECTED'
  | 'ERR_ROUTECORE_STREAM_INTERRUPTED'
  | 'ERR_ROUTECORE_ABORTED'
  | 'ERR_ROUTECORE_UNKNOWN_MODEL'
  | 'ERR_ROUTECORE_BAD_CONFIG'
  | 'ERR_ROUTECORE_BAD_MODEL'
  | 'ERR_ROUTECORE_MODEL_MISMATCH'
  | 'ERR_ROUTECORE_INTERNAL';

/** Every error code, for documentation and for code that maps native error codes to these. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze([
  'ERR_ROUTECORE_INVALID_ARGUMENT',
  'ERR_ROUTECORE_BAD_ARTIFACT',
  'ERR_ROUTECORE_ARTIFACT_VERSION',
  'ERR_ROUTECORE_BACKEND_UNAVAILABLE',
  'ERR_ROUTECORE_BAD_BACKEND',
  'ERR_ROUTECORE_BAD_DATA',
  'ERR_ROUTECORE_BAD_REGISTRY',
  'ERR_ROUTECORE_IO',
  'ERR_ROUTECORE_DISPOSED',
  'ERR_ROUTECORE_NO_ELIGIBLE_MODEL',
  'ERR_ROUTECORE_ADDON_UNAVAILABLE',
  'ERR_ROUTECORE_UPSTREAM',
  'ERR_ROUTECORE_UPSTREAM_REJECTED',
  'ERR_ROUTECORE_STREAM_INTERRUPTED',
  'ERR_ROUTECORE_ABORTED',
  'ERR_ROUTECORE_UNKNOWN_MODEL',
  'ERR_ROUTECORE_BAD_CONFIG',
  // An encoder's model files (tokenizer.json, model.safetensors, model.onnx) are unusable.
  'ERR_ROUTECORE_BAD_MODEL',
  // A router's encoder model is missing, or is not the one the router was trained with.
  'ERR_ROUTECORE_MODEL_MISMATCH',
  'ERR_ROUTECORE_INTERNAL',
] as const);

const CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** The error routecore throws everywhere; `code` is stable, `message` is for humans. */
export class RoutecoreError extends Error {
  /** Stable machine-readable code, e.g. `ERR_ROUTECORE_BAD_REGISTRY`. */
  readonly code: ErrorCode;

  /**
   * @param code one of {@link ErrorCode}
   * @param message what went wrong, naming the file, line, field or argument at fault
   * @param options `cause`: the underlying error (e.g. the `fs` error behind an IO failure)
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    // Callers switch on `.code`, so an unlisted code (only reachable from untyped JS) must not leak
    // out; keep the evidence in the message instead of throwing a second, non-routecore error.
    if (CODE_SET.has(code)) {
      this.code = code;
    } else {
      this.code = 'ERR_ROUTECORE_INTERNAL';
      this.message = `${message} (raised with unknown error code ${describe(code)})`;
    }
    this.name = 'RoutecoreError';
  }
}

/** True when `value` is a {@link RoutecoreError}, optionally with the given code. */
export function isRoutecoreError(value: unknown, code?: ErrorCode): value is RoutecoreError {
  return value instanceof RoutecoreError && (code === undefined || value.code === code);
}

const MAX_STRING_PREVIEW = 40;

/**
 * A short human description of a value for error messages: `number 3`, `NaN`, `string "abc"`
 * (truncated to 40 characters with `…`), `undefined`, `null`, `boolean true`, `array of length 2`,
 * `Float32Array of length 4`, `object`, `function`.
 */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return Number.isNaN(value) ? 'NaN' : `number ${String(value)}`;
    case 'string': {
      const shown = value.length > MAX_STRING_PREVIEW ? value.slice(0, MAX_STRING_PREVIEW) + '…' : value;
      // JSON.stringify escapes newlines and quotes so the message stays on one readable line.
      return `string ${JSON.stringify(shown)}`;
    }
    case 'boolean':
      return `boolean ${String(value)}`;
    case 'bigint':
      return `bigint ${String(value)}n`;
    case 'symbol':
      return 'symbol';
    case 'function':
      return 'function';
    default:
      break;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'typed array';
    return 'length' in value ? `${name} of length ${(value as { length: number }).length}` : name;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === null || proto === Object.prototype) return 'object';
  const ctor = (proto as { constructor?: { name?: string } }).constructor;
  return ctor?.name ? `${ctor.name} object` : 'object';
}

/** Whether `v` is an object that is neither null nor an array: a JSON object, a record of options. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The error for a public argument of the wrong type or range:
 * `Expected ${expected} for ${name} but received ${describe(actual)}`, code `ERR_ROUTECORE_INVALID_ARGUMENT`.
 * @param name the argument as the caller wrote it, e.g. `options.lambda`
 * @param expected what was acceptable, e.g. `a finite number >= 0`
 * @param actual the value received
 */
export function invalidArgument(name: string, expected: string, actual: unknown): RoutecoreError {
  return new RoutecoreError(
    'ERR_ROUTECORE_INVALID_ARGUMENT',
    `Expected ${expected} for ${name} but received ${describe(actual)}`,
  );
}

/** Levenshtein distance, used only to suggest a fix for a misspelt key. */
function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const sub = prev[j - 1]! + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1);
      cur[j] = Math.min(sub, prev[j]! + 1, cur[j - 1]! + 1);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[n]!;
}

function squash(s: string): string {
  return s.toLowerCase().replace(/[_\-\s]/g, '');
}

/**
 * The known name closest to a misspelt one, or undefined when nothing is plausibly meant.
 * Case and `_`/`-` differences always match (`latency_ms` → `latencyMs`); otherwise the edit
 * distance must be small relative to the name's length, so unrelated keys get no suggestion.
 */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  const squashed = squash(name);
  for (const k of known) if (squash(k) === squashed) return k;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(squashed, squash(k));
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  return bestDistance <= limit ? best : undefined;
}
