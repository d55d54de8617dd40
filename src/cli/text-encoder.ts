/**
 * `--text-encoder onnx:DIR` of `routecore route` and `routecore serve`: the load-time Encoder of a
 * router trained on embeddings (src/routing/encoder.ts), so that such a router takes text from the
 * command line and the gateway like any other. onnxruntime-node, an optional peer, is loaded only
 * when the flag is given.
 * @module
 */
import { RoutecoreError } from '../errors.js';
import type { Encoder } from '../routing/encoder.js';

/** Parses and loads `--text-encoder` (`flag` names it in errors); undefined when not given. */
export async function loadTextEncoder(spec: string | undefined, flag = '--text-encoder'): Promise<(Encoder & { dispose(): Promise<void> }) | undefined> {
  if (spec === undefined) return undefined;
  const m = /^onnx:(.+)$/.exec(spec);
  if (!m) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `${flag} "${spec}" is not a text encoder: expected onnx:DIR (DIR: a sentence-transformer export with model.onnx or onnx/model.onnx, and tokenizer.json)`,
    );
  }
  const { OnnxEncoder } = await import('../encoders/onnx.js');
  return OnnxEncoder.load(m[1]!);
}
