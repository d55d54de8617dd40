/**
 * Answering 413 so that clients see it. fastify refuses a body over the limit before reading it (at
 * once when `Content-Length` says so) and marks the answer `Connection: close`; Node then closes the
 * socket while the client is still sending, and the client's next write fails with EPIPE / ECONNRESET.
 * Node's `fetch` and the OpenAI SDK report that as "fetch failed" / "Connection error." and never read
 * the 413 and its message (measured: a 20 MB body against a 1 MiB limit, separate processes).
 *
 * The fix: keep the connection open and read the rest of the body into nothing, up to a bound, so the
 * client finishes sending and then reads the answer; past the bound (bytes or time) the socket is
 * closed, as before. The connection stays usable for the next request when the whole body was read.
 * @module
 */
import type { IncomingMessage } from 'node:http';

/** How much of an oversized body is read and discarded at most, and for how long. */
export interface DiscardBounds {
  /** Bytes read after the refusal at most (default {@link discardBytesFor}). */
  maxBytes: number;
  /** Milliseconds the reading may take at most (default 10,000). */
  maxMs: number;
}

/** The discard bound for a body limit: twice the limit, at least 64 MiB (a client over the limit is usually not far over it). */
export function discardBytesFor(bodyLimitBytes: number): number {
  return Math.max(64 * 1024 * 1024, 2 * bodyLimitBytes);
}

/**
 * Reads and discards the rest of `req` (a request refused with 413) within `bounds`, then lets the
 * connection live on; beyond the bounds, destroys the socket. Call before sending the answer, and
 * drop any `Connection: close` the framework set.
 */
export function discardRequestBody(req: IncomingMessage, bounds: DiscardBounds): void {
  if (req.complete || req.destroyed) return;
  let read = 0;
  const stop = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > bounds.maxBytes) stop();
  };
  const timer = setTimeout(stop, bounds.maxMs);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
