/**
 * The project's own test double of Anthropic's Messages API (`POST /v1/messages`, and
 * `POST /v1/messages/count_tokens` answering `{input_tokens}`) on 127.0.0.1, with
 * the same fault kinds as ./mock-upstream.ts plus Anthropic's in-stream `error` event. It records
 * every request (path, headers — `x-api-key`, `anthropic-version` — and body), answers text or, when
 * the fault asks for it, a `tool_use` block; streams use Anthropic's named events.
 *
 * ```ts
 * const claude = await startMockAnthropic({ name: 'claude' });
 * claude.queue({ kind: 'status', status: 529 }); // overloaded once
 * // registry: { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY' }
 * ```
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { type Fault as OpenAIFault, answerFault, endStreamByFault, piecesBeforeFault, sendJson, split, write } from './faults.js';
import type { RecordedRequest } from './mock-upstream.js';

/** What the mock does with one request: the OpenAI mock's faults, and an `error` event inside a stream. */
export type AnthropicFault =
  | OpenAIFault
  /** Streams `after` text deltas, then an `event: error` (`overloaded_error` by default) and ends. */
  | { kind: 'error-event'; after?: number; type?: string };

/** One request as the mock saw it. */
export type AnthropicRequest = Omit<RecordedRequest, 'fault'> & { fault: AnthropicFault['kind'] };

/** Options of {@link startMockAnthropic}. */
export interface MockAnthropicOptions {
  /** Appears in answers (`Answer from <name>`); default `claude`. */
  name?: string;
  /** Text deltas per streamed answer; default 4. */
  chunks?: number;
  /** `input_tokens` reported; default 12. */
  inputTokens?: number;
  /** `input_tokens` of a count_tokens answer; default 321 (far from any estimate a test would make). */
  countTokens?: number;
  /** `cache_read_input_tokens` and `cache_creation_input_tokens` reported (besides `input_tokens`); default none. */
  cache?: { read: number; write: number };
}

/** A running mock. */
export interface MockAnthropic {
  /** `http://127.0.0.1:PORT/v1`, a registry baseUrl. */
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: AnthropicRequest[];
  fault: AnthropicFault;
  queue(...faults: AnthropicFault[]): void;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };

/** Starts a mock on a free port. */
export async function startMockAnthropic(options: MockAnthropicOptions = {}): Promise<MockAnthropic> {
  const name = options.name ?? 'claude';
  const chunks = options.chunks ?? 4;
  const inputTokens = options.inputTokens ?? 12;
  const countTokens = options.countTokens ?? 321;
  const cacheUsage = options.cache ? { cache_read_input_tokens: options.cache.read, cache_creation_input_tokens: options.cache.write } : {};
  const requests: AnthropicRequest[] = [];
  const pending: AnthropicFault[] = [];
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();
  const state = { fault: { kind: 'ok' } as AnthropicFault };
  let created = 0;

  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const fault = pending.length > 0 ? pending.shift()! : state.fault;
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, headers: { ...req.headers }, body, fault: fault.kind });
    const error = (status: number, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }));
    };
    // The error-event fault is this wire's own; the shared player answers it as no fault (`ok` until the stream stops).
    const wire = { error, malformed: { stream: 'event: message_start\ndata: {"this is": not json\n\n', json: '<html>502 Bad Gateway from a proxy</html>' } };
    const counting = (req.url ?? '').endsWith('/messages/count_tokens');
    if (req.method !== 'POST' || !((req.url ?? '').endsWith('/messages') || counting)) return error(404, `no route ${req.method} ${req.url}`);
    if (typeof req.headers['x-api-key'] !== 'string' || typeof req.headers['anthropic-version'] !== 'string') return error(401, 'x-api-key and anthropic-version headers are required');
    if (counting) {
      // Anthropic's count_tokens: model and messages required, no max_tokens; the faults that answer without content apply.
      if (answerFault(fault as OpenAIFault, req, res, false, name, held, wire)) return;
      if (typeof body?.['model'] !== 'string' || !Array.isArray(body?.['messages'])) return error(400, 'model and messages are required');
      if (body['max_tokens'] !== undefined) return error(400, 'max_tokens: Extra inputs are not permitted');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: countTokens }));
      return;
    }
    if (typeof body?.['max_tokens'] !== 'number' || !Array.isArray(body?.['messages'])) return error(400, 'max_tokens and messages are required');
    const stream = body['stream'] === true;
    const model = typeof body['model'] === 'string' ? body['model'] : name;
    const id = `msg_${name}_${++created}`;

    if (answerFault(fault as OpenAIFault, req, res, stream, name, held, wire)) return;
    if (fault.kind === 'ok' && fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    const tool = fault.kind === 'ok' ? fault.tool : undefined;
    const text = fault.kind === 'ok' && fault.text !== undefined ? fault.text : `Answer from ${name}.`;
    const pieces = split(text, chunks);
    const outputTokens = pieces.length + (tool ? 5 : 0);
    const stopReason = tool ? 'tool_use' : 'end_turn';
    if (!stream) {
      const content: unknown[] = [{ type: 'text', text }];
      if (tool) content.push({ type: 'tool_use', id: `toolu_${name}_${created}`, name: tool.name, input: JSON.parse(tool.arguments) });
      const payload = JSON.stringify({ id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: outputTokens, ...cacheUsage } });
      sendJson(fault as OpenAIFault, req, res, payload);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const ev = (type: string, data: Record<string, unknown>) => write(res, `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    await ev('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1, ...cacheUsage } } });
    await ev('ping', {});
    await ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    const stopAfter = piecesBeforeFault(fault, ['error-event']);
    for (let i = 0; i < pieces.length && i < stopAfter; i++) await ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: pieces[i] } });
    if (await endStreamByFault(fault, req, res)) return;
    if (fault.kind === 'error-event') {
      await write(res, `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: fault.type ?? 'overloaded_error', message: 'Overloaded' } })}\n\n`);
      res.end();
      return;
    }
    await ev('content_block_stop', { index: 0 });
    if (tool) {
      await ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: `toolu_${name}_${created}`, name: tool.name, input: {} } });
      const half = tool.arguments.length >> 1;
      await ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: tool.arguments.slice(0, half) } });
      await ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: tool.arguments.slice(half) } });
      await ev('content_block_stop', { index: 1 });
    }
    await ev('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    await ev('message_stop', {});
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get fault() {
      return state.fault;
    },
    set fault(f: AnthropicFault) {
      state.fault = f;
    },
    queue(...faults: AnthropicFault[]) {
      pending.push(...faults);
    },
    async close() {
      for (const r of held) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
