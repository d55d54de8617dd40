/**
 * RouteLLM's benchmark–dataset similarity as a router measures it: for each prompt, the largest
 * cosine similarity to the router's coverage sketch (up to 1,024 of its training prompts, in the
 * projection of its own features, stored in the `.router` file); the mean over prompts says how
 * much of that traffic looks like what the router was trained on.
 * @module
 */
import { rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument } from '../errors.js';

/** What {@link coverageOf} returns. */
export interface Coverage {
  /** Mean over the prompts of their largest similarity to the training sketch, in [-1, 1]. */
  mean: number;
  /** Each prompt's largest similarity, in the order given. */
  perPrompt: Float32Array;
}

/** The coverage of `prompts` for the router whose native handle is `native`. */
export function coverageOf(native: NativeRouterHandle, prompts: readonly string[]): Coverage {
  if (!Array.isArray(prompts) || prompts.length === 0) throw invalidArgument('prompts', 'a non-empty array of prompts', prompts);
  const parts = prompts.map((p, i) => {
    if (typeof p !== 'string' || p === '') throw invalidArgument(`prompts[${i}]`, 'a non-empty string', p);
    return Buffer.from(p, 'utf8');
  });
  const offsets = new Uint32Array(prompts.length + 1);
  parts.forEach((b, i) => (offsets[i + 1] = offsets[i]! + b.length));
  const out = new Float32Array(prompts.length);
  if (typeof native.coverage !== 'function') {
    throw new RoutecoreError('ERR_ROUTECORE_ADDON_UNAVAILABLE', 'the loaded routecore addon predates coverage; rebuild it (npm run build:native)');
  }
  try {
    native.coverage(Buffer.concat(parts), offsets, prompts.length, out);
  } catch (err) {
    rethrowNative(err);
  }
  let sum = 0;
  for (const v of out) sum += v;
  return { mean: sum / prompts.length, perPrompt: out };
}
