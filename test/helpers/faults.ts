/**
 * The fault kinds the project's mock upstreams inject (./mock-upstream.ts for OpenAI's wire,
 * ./mock-anthropic.ts for Anthropic's), played the same way by both: only what a fault looks like on
 * the wire (the error body, a malformed answer) is each mock's own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a mock does with one request. */
export type Fault =
  /**
   * Answers normally (the default). `tools` (the chat mock only): parallel tool calls instead of one
   * `tool`, their argument deltas streamed interleaved as some upstreams do (every call's start, then
   * each call's first half of arguments by turns, then each one's second half).
   */
  | { kind: 'ok'; text?: string; delayMs?: number; tool?: { name: string; arguments: string }; tools?: { name: string; arguments: string }[]; stallAfter?: number; noChoices?: boolean }
  /** Answers with this status and the wire's error body; `retryAfter` sets the header (seconds, or any string). */
  | { kind: 'status'; status: number; retryAfter?: string | number; message?: string; /** OpenAI's error `code` and `param` (the chat mock's body only). */ code?: string; param?: string }
  /** Reads the request and never answers (the client's timeout must fire). */
  | { kind: 'timeout' }
  /** Destroys the connection without an answer (ECONNRESET / socket closed). */
  | { kind: 'reset' }
  /** 200 with a body that is not the wire's answer; for streams, an event that is not JSON. */
  | { kind: 'malformed' }
  /** Streams `after` content chunks, then destroys the connection (no finish, no [DONE]). Non-streaming: sends half a JSON body, then resets. */
  | { kind: 'cut'; after?: number }
  /** Streams normally but ends the response before [DONE] after `after` chunks (a clean close, no error). */
  | { kind: 'truncated'; after?: number };

/** How one wire shows the faults that answer before any content. */
export interface FaultWire {
  /** Writes an error answer (status, the wire's error body, extra headers). */
  error(status: number, message: string, headers: Record<string, string>, fields?: { code?: string; param?: string }): void;
  /** The text of a malformed answer: a stream's first event, a JSON body's replacement. */
  malformed: { stream: string; json: string };
}

/**
 * Plays a fault that answers before any content (status, timeout, reset, malformed); returns whether
 * it did, and then the request is done with. `held` keeps timed-out answers so close() can end them.
 */
export function answerFault(fault: Fault, req: IncomingMessage, res: ServerResponse, stream: boolean, name: string, held: Set<ServerResponse>, wire: FaultWire): boolean {
  switch (fault.kind) {
    case 'status':
      wire.error(fault.status, fault.message ?? `injected status ${fault.status} from ${name}`, fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}, { code: fault.code, param: fault.param });
      return true;
    case 'timeout':
      held.add(res);
      res.on('close', () => held.delete(res));
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'malformed':
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
      res.end(stream ? wire.malformed.stream : wire.malformed.json);
      return true;
    default:
      return false;
  }
}

/** Sends a non-streamed answer, or half of it and a reset when the fault is `cut`. */
export function sendJson(fault: Fault, req: IncomingMessage, res: ServerResponse, payload: string): void {
  if (fault.kind === 'cut') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    res.write(payload.slice(0, payload.length >> 1), () => req.socket.destroy());
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(payload);
}

/** How many content pieces a stream sends before its fault ends it (`cut`, `truncated`, and the extra `kinds` that stop early). */
export function piecesBeforeFault(fault: { kind: string; after?: number }, kinds: readonly string[] = []): number {
  return fault.kind === 'cut' || fault.kind === 'truncated' || kinds.includes(fault.kind) ? (fault.after ?? 2) : Number.POSITIVE_INFINITY;
}

/**
 * Ends a stream the way a `cut` (connection destroyed once the pieces have left) or `truncated`
 * (a clean end before the finish) fault does; returns whether it did.
 */
export async function endStreamByFault(fault: Fault | { kind: string }, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (fault.kind === 'cut') {
    // Let the chunks leave before the connection dies, as a real mid-stream failure does.
    await new Promise((r) => setTimeout(r, 20));
    req.socket.destroy();
    return true;
  }
  if (fault.kind === 'truncated') {
    res.end();
    return true;
  }
  return false;
}

/** Writes to a response, waiting for 'drain' when its buffer is full. */
export function write(res: ServerResponse, s: string): Promise<void> {
  return new Promise((resolve) => {
    if (res.write(s)) resolve();
    else res.once('drain', () => resolve());
  });
}

/** Splits text into about `n` pieces on word boundaries (at least one). */
export function split(text: string, n: number): string[] {
  const words = text.split(/(?<=\s)/);
  if (words.length <= n) return words.length > 0 ? words : [text];
  const per = Math.ceil(words.length / n);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(''));
  return out;
}
