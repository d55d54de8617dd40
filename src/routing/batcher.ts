/**
 * The micro-batcher behind `route()`: concurrent single requests are queued and handed over as one
 * batch — when `maxBatch` are waiting, else on the event loop's next turn (or after `maxWaitMs`) —
 * so one native call scores them all. It knows nothing of what a request is or how a batch runs.
 * @module
 */

/** Counters of the micro-batcher, for monitoring. */
export interface RouterStats {
  /** Prompts routed through `route()`. */
  routed: number;
  /** Native calls made for them. */
  batches: number;
  /** The largest batch so far. */
  largestBatch: number;
  /** Prompts waiting for the next batch now. */
  queued: number;
}

/** A queue of `T` flushed in batches to `run`. */
export class MicroBatcher<T> {
  #queue: T[] = [];
  #scheduled = false;
  readonly #stats: RouterStats = { routed: 0, batches: 0, largestBatch: 0, queued: 0 };
  readonly #maxBatch: number;
  readonly #maxWait: number;
  readonly #run: (batch: T[]) => void;

  /** `run` receives each batch (never empty) and settles its items itself. */
  constructor(maxBatch: number, maxWaitMs: number, run: (batch: T[]) => void) {
    this.#maxBatch = maxBatch;
    this.#maxWait = maxWaitMs;
    this.#run = run;
  }

  /** Queues one item; the batch it joins runs at the latest on the next turn (or after maxWaitMs). */
  push(item: T): void {
    this.#queue.push(item);
    if (this.#queue.length >= this.#maxBatch) {
      this.#flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      if (this.#maxWait > 0) setTimeout(() => this.#flush(), this.#maxWait);
      else setImmediate(() => this.#flush());
    }
  }

  /** Empties the queue without running it (the router is being disposed), returning what was queued. */
  drain(): T[] {
    const queued = this.#queue;
    this.#queue = [];
    return queued;
  }

  /** The counters, `queued` as of now. */
  stats(): RouterStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#stats.routed += batch.length;
    this.#stats.batches += 1;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    this.#run(batch);
  }
}
