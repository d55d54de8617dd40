/**
 * The encoder seam: how prompt text becomes the features a router's predictor scores.
 *
 * Every face (route/routeSync/routeBatch, routeChat, the executor, the gateway, the adapters, the
 * CLI) hands the router *text*. What turns that text into features is fixed per router, at
 * training and load time, and takes one of two paths:
 *
 * 1. **The artifact's own encoder, run inside the native addon** — `hashing` (hashed word and
 *    character n-grams), `static` and `mixed` (a model2vec-layout static model, alone or beside
 *    hashing). The `.router` file carries or names it, the addon tokenizes and encodes packed UTF-8
 *    text in the same native call that scores it, and there is nothing to pass at load time: this
 *    is the fast path (no float rows cross from JavaScript).
 * 2. **An {@link Encoder} given at load time**, for a router trained on precomputed embeddings
 *    (`train(records, { embeddings })`, {@link RouterCore.encoder} reads `precomputed`). The artifact
 *    then holds only the predictor over `inputDim` floats; `RouterOptions.encoder` supplies the text
 *    → floats step, and the router calls it for every prompt it is given as text. Without one, such
 *    a router only takes embeddings (`routeEmbeddings`, `routeEmbeddingSync`). An ONNX sentence
 *    encoder, a static model run from TypeScript, or a call to an embedding service all fit here.
 *
 * The router calls {@link Encoder.encode} once per micro-batch (so a batching encoder sees the
 * batch), and {@link Encoder.encodeSync} for `routeSync` and small synchronous paths; an encoder
 * without `encodeSync` serves only the asynchronous calls, and the synchronous ones say so.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';

/**
 * Text to feature rows for a router trained on embeddings. Implementations must be deterministic
 * (the same text gives the same row, as at training time) and must not keep the arrays they return
 * after returning them (the router may hand them to the native scorer on another thread).
 *
 * ```ts
 * const encoder: Encoder = {
 *   name: 'my-service:v3',
 *   dim: 384,
 *   async encode(texts) { return Float32Array.from((await embed(texts)).flat()); },
 * };
 * const { router } = await train(records, { embeddings: rowsFromTheSameService, router: { encoder } });
 * await router.routeChat({ messages: [{ role: 'user', content: 'hi' }] }); // encoded by `encoder`
 * ```
 */
export interface Encoder {
  /**
   * What produces the rows, e.g. `onnx:all-MiniLM-L6-v2` or `my-service:v3`: named in errors, in
   * stats, and compared with the name a router file records (`routecore.encoder`), so that a router
   * trained on one encoder's rows is not served with another's.
   */
  readonly name: string;
  /** Floats per text; must equal the router's `inputDim`. */
  readonly dim: number;
  /**
   * Encodes `texts` (non-empty, each already checked as a well-formed prompt) into one row-major
   * Float32Array of `texts.length × dim` finite floats.
   */
  encode(texts: readonly string[]): Promise<Float32Array>;
  /** The same on the calling thread; optional (without it `routeSync` and `routeChatSync` refuse). */
  encodeSync?(texts: readonly string[]): Float32Array;
}

/** Metadata key of a `.router` file naming the encoder its rows came from (see {@link Encoder.name}). */
export const ENCODER_META = 'routecore.encoder';

/** Validates a user-given encoder (`name` is the argument named in errors). */
export function checkEncoder(encoder: unknown, name: string): Encoder {
  if (typeof encoder !== 'object' || encoder === null) throw invalidArgument(name, 'an Encoder { name, dim, encode(texts) }', encoder);
  const e = encoder as Partial<Encoder>;
  if (typeof e.name !== 'string' || e.name === '') throw invalidArgument(`${name}.name`, 'a non-empty string', e.name);
  if (!Number.isSafeInteger(e.dim) || (e.dim as number) < 1) throw invalidArgument(`${name}.dim`, 'a positive integer', e.dim);
  if (typeof e.encode !== 'function') throw invalidArgument(`${name}.encode`, 'a function (texts) => Promise<Float32Array>', e.encode);
  if (e.encodeSync !== undefined && typeof e.encodeSync !== 'function') throw invalidArgument(`${name}.encodeSync`, 'a function (texts) => Float32Array', e.encodeSync);
  return encoder as Encoder;
}

/**
 * Checks what an encoder returned for `count` texts: a Float32Array of `count × dim` finite floats.
 * A wrong answer is the encoder's fault, named as such, rather than a scoring error further down.
 */
export function checkRows(rows: unknown, encoder: Encoder, count: number): Float32Array {
  if (!(rows instanceof Float32Array)) {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `encoder "${encoder.name}" returned ${rows === null ? 'null' : typeof rows}, not a Float32Array`);
  }
  if (rows.length !== count * encoder.dim) {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `encoder "${encoder.name}" returned ${rows.length} floats for ${count} text(s) of dimension ${encoder.dim} (expected ${count * encoder.dim})`);
  }
  return rows;
}
