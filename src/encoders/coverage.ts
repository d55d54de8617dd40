/**
 * RouteLLM's benchmark–dataset similarity as a router measures it: for each prompt, the largest
 * cosine similarity to the router's coverage sketch (up to 1,024 of its training prompts, in the
 * projection of its own features, stored in the `.router` file); the mean over prompts says how
 * much of that traffic looks like what the router was trained on.
 * @module
 */
import { rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument, isRoutecoreError } from '../errors.js';

/** What {@link coverageOf} returns. */
export interface Coverage {
  /** Mean over the prompts of their largest similarity to the training sketch, in [-1, 1]. */
  mean: number;
  /** Each prompt's largest similarity, in the order given. */
  perPrompt: Float32Array;
}

/** @internal The coverage of `prompts` for the router whose native handle is `native` (Router.coverage is the public face). */
export function coverageOf(native: NativeRouterHandle, prompts: readonly string[]): Coverage {
  if (!Array.isArray(prompts) || prompts.length === 0) throw invalidArgument('prompts', 'a non-empty array of prompts', prompts);
  const parts = prompts.map((p, i) => {
    if (typeof p !== 'string' || p === '') throw invalidArgument(`prompts[${i}]`, 'a non-empty string', p);
    return Buffer.from(p, 'utf8');
  });
  const offsets = new Uint32Array(prompts.length + 1);
  parts.forEach((b, i) => {
    offsets[i + 1] = offsets[i]! + b.length;
  });
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

/**
 * Coverage of live traffic: keeps every `every`-th routed text (at most `keep`, the newest) and
 * gives their mean coverage when asked — for a gauge read at scrape time, so routing pays only
 * for remembering a string now and then.
 */
export class CoverageSampler {
  readonly #every: number;
  readonly #keep: number;
  readonly #ring: string[] = [];
  #seen = 0;
  #next = 0;

  constructor(every = 16, keep = 256) {
    this.#every = every;
    this.#keep = keep;
  }

  /** Notes one routed text. */
  note(text: string): void {
    if (this.#seen++ % this.#every !== 0 || text === '') return;
    if (this.#ring.length < this.#keep) this.#ring.push(text);
    else this.#ring[this.#next++ % this.#keep] = text;
  }

  /** Mean coverage of the sampled texts for `router`; null with none sampled or no sketch. */
  mean(router: { coverage(prompts: readonly string[]): Coverage }): number | null {
    if (this.#ring.length === 0) return null;
    try {
      return router.coverage(this.#ring).mean;
    } catch (err) {
      if (isRoutecoreError(err) && (err.code === 'ERR_ROUTECORE_INVALID_ARGUMENT' || err.code === 'ERR_ROUTECORE_ADDON_UNAVAILABLE' || err.code === 'ERR_ROUTECORE_DISPOSED')) return null;
      throw err;
    }
  }
}
