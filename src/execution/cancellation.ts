/**
 * Cancellation on the request path without an AbortSignal until a transport asks for one.
 *
 * Node's AbortSignal is an EventTarget: making one (`controller.signal`) and adding and removing an
 * `abort` listener per upstream call were 4% of a busy gateway's event loop at 32 connections
 * (`node --cpu-prof`, bench/profile-gateway.js), for a cancellation that almost never happens (a
 * client that leaves before its answer). A {@link Canceller} is a flag and an array of callbacks; its
 * `signal` is made on first use, for the transports that need a real one (undici's `request()` for
 * streams, the AI SDK's `abortSignal`).
 * @module
 */

/** What the runner and the attempts read of a request's cancellation. */
export interface Cancellation {
  /** Whether it has been cancelled. */
  readonly aborted: boolean;
  /** Why (the value given to abort). */
  readonly reason: unknown;
  /** Calls `fn` once when cancelled (not when it already is: read {@link aborted} first); returns what removes it. */
  onAbort(fn: () => void): () => void;
  /** An AbortSignal aborted with it, for transports that take one (made on first use by a {@link Canceller}). */
  readonly signal: AbortSignal;
}

/** A cancellation the owner aborts. */
export class Canceller implements Cancellation {
  #aborted = false;
  #reason: unknown;
  #fns: (() => void)[] | undefined;
  #controller: AbortController | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  onAbort(fn: () => void): () => void {
    if (this.#fns === undefined) this.#fns = [fn];
    else this.#fns.push(fn);
    return () => {
      const fns = this.#fns;
      const i = fns ? fns.indexOf(fn) : -1;
      if (i >= 0) fns!.splice(i, 1);
    };
  }

  /** Cancels: the signal (if made) aborts, then each callback runs once. Later calls do nothing. */
  abort(reason: unknown = abortError()): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const fns = this.#fns;
    this.#fns = undefined;
    if (fns) {
      for (const fn of fns) {
        try {
          fn();
        } catch {
          // one callback's failure must not keep the others from running
        }
      }
    }
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
}

const ONCE = { once: true } as const;

/**
 * A caller's AbortSignal as a {@link Cancellation}. A class rather than an object literal with getters:
 * V8 keeps a literal's accessors in its hidden class, in the old generation, which kept what they
 * captured alive past the request (see the runner's `Target`).
 */
class SignalCancellation implements Cancellation {
  constructor(readonly signal: AbortSignal) {}

  get aborted(): boolean {
    return this.signal.aborted;
  }

  get reason(): unknown {
    return this.signal.reason;
  }

  onAbort(fn: () => void): () => void {
    const signal = this.signal;
    signal.addEventListener('abort', fn, ONCE);
    return () => signal.removeEventListener('abort', fn);
  }
}

/** A caller's AbortSignal as a {@link Cancellation} (listeners go on the signal itself). */
export function signalCancellation(signal: AbortSignal): Cancellation {
  return new SignalCancellation(signal);
}

/** Whether a value is a {@link Cancellation} (the executor's option check). */
export function isCancellation(v: unknown): v is Cancellation {
  return typeof v === 'object' && v !== null && typeof (v as Cancellation).onAbort === 'function' && typeof (v as Cancellation).aborted === 'boolean' && 'signal' in v;
}

/** The reason AbortController.abort() gives when none is passed. */
function abortError(): Error {
  return new DOMException('This operation was aborted', 'AbortError');
}
