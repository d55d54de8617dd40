/**
 * The project's own test double of an OpenAI-compatible chat-completions API, on 127.0.0.1
 * (node:http), with fault injection. It records every request (path, Authorization header, body),
 * so tests can prove which key reached which upstream. Used by the executor, adapter and gateway
 * tests and by the benchmarks.
 *
 * ```ts
 * const mock = await startMockUpstream({ name: 'a' });
 * mock.queue({ kind: 'status', status: 503 }); // the next request fails, later ones answer
 * // registry: { id: 'a', baseUrl: mock.baseUrl, apiKeyEnv: 'A_KEY' }
 * await mock.close();
 * ```
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { type Fault, answerFault, endStreamByFault, piecesBeforeFault, sendJson, split, write } from './faults.js';

export type { Fault };

/** One request as the mock saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** The Authorization header, or undefined when none was sent. */
  authorization: string | undefined;
  /** Every header, lower-cased names. */
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined;
  /** The fault applied. */
  fault: Fault['kind'];
}

/** Options of {@link startMockUpstream}. */
export interface MockOptions {
  /** Appears in answers (`Answer from <name>`) and as the reported `model`; default `mock`. */
  name?: string;
  /** Content chunks per streamed answer; default 4. */
  chunks?: number;
  /** Prompt tokens reported in `usage`; default 12. */
  promptTokens?: number;
  /** The answer text for a request body (a judge that follows a rule of the prompt); default `Answer from <name>.`. An `ok` fault's `text` wins. */
  answer?: (body: Record<string, unknown> | undefined) => string;
  /** A body field this server does not take, answered with `status` and `message` (as Mistral's 422 for `max_completion_tokens`, OpenAI's 400 for `max_tokens` on a reasoning model). */
  refuse?: { field: string; status: number; message: string };
}

/** A running mock. */
export interface MockUpstream {
  /** `http://127.0.0.1:PORT/v1`, a registry baseUrl. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The fault applied when the queue is empty; default `{ kind: 'ok' }`. */
  fault: Fault;
  /** Faults for the next requests, one each, before `fault` applies again. */
  queue(...faults: Fault[]): void;
  /** Connections currently open (a cancelled call closes its own). */
  openConnections(): number;
  /** Closes the server and every connection (held "timeout" requests included). */
  close(): Promise<void>;
}

/** Starts a mock on 127.0.0.1 at a free port. */
export async function startMockUpstream(options: MockOptions = {}): Promise<MockUpstream> {
  const name = options.name ?? 'mock';
  const chunks = options.chunks ?? 4;
  const promptTokens = options.promptTokens ?? 12;
  const requests: RecordedRequest[] = [];
  const pending: Fault[] = [];
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();
  let created = 0;

  const state = {
    fault: { kind: 'ok' } as Fault,
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    const raw = Buffer.concat(parts).toString('utf8');
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const fault = pending.length > 0 ? pending.shift()! : state.fault;
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, headers: { ...req.headers }, body, fault: fault.kind });

    if (req.method === 'POST' && (req.url ?? '').endsWith('/responses') && fault.kind === 'ok') {
      await responses(res, body ?? {}, name, ++created, promptTokens, fault.text ?? `Answer from ${name}.`, chunks);
      return;
    }
    if (req.method !== 'POST' || !(req.url ?? '').endsWith('/chat/completions')) {
      json(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error', code: 'not_found' } });
      return;
    }
    const stream = body?.['stream'] === true;
    const includeUsage = (body?.['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
    const model = typeof body?.['model'] === 'string' ? (body['model'] as string) : name;
    const id = `chatcmpl-${name}-${++created}`;

    const wire = {
      error: (status: number, message: string, headers: Record<string, string>, fields?: { code?: string; param?: string }) =>
        json(res, status, { error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code: fields?.code ?? null, param: fields?.param ?? null } }, headers),
      malformed: { stream: 'data: {"this is": not json\n\n', json: '<html>502 Bad Gateway from a proxy</html>' },
    };
    if (answerFault(fault, req, res, stream, name, held, wire)) return;
    if (options.refuse && body?.[options.refuse.field] !== undefined) {
      json(res, options.refuse.status, { error: { message: options.refuse.message, type: 'invalid_request_error', param: options.refuse.field, code: null } });
      return;
    }
    if (fault.kind === 'ok' && fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    const text = fault.kind === 'ok' && fault.text !== undefined ? fault.text : (options.answer?.(body) ?? `Answer from ${name}.`);
    const pieces = split(text, chunks);
    const completionTokens = pieces.length;
    const parallel = fault.kind === 'ok' ? fault.tools : undefined;
    const callId = (i: number) => `call_${name}_${created}${i > 0 ? `_${i}` : ''}`;
    if (!stream) {
      const payload = JSON.stringify({
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        // `noChoices`: a 200 whose completion has no choice (as some proxies answer a filtered call).
        choices: fault.kind === 'ok' && fault.noChoices ? [] : [
          parallel
            ? { index: 0, message: { role: 'assistant', content: text, tool_calls: parallel.map((t, i) => ({ id: callId(i), type: 'function', function: t })) }, finish_reason: 'tool_calls', logprobs: null }
            : fault.kind === 'ok' && fault.tool
            ? { index: 0, message: { role: 'assistant', content: text, tool_calls: [{ id: `call_${name}_${created}`, type: 'function', function: fault.tool }] }, finish_reason: 'tool_calls', logprobs: null }
            : { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null },
        ],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      });
      sendJson(fault, req, res, payload);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const stopAfter = piecesBeforeFault(fault);
    for (let i = 0; i < pieces.length && i < stopAfter; i++) {
      // `stallAfter`: a stream that sends this many pieces, then nothing until the mock closes.
      if (fault.kind === 'ok' && fault.stallAfter !== undefined && i >= fault.stallAfter) {
        held.add(res);
        return;
      }
      await write(res, chunk({ content: pieces[i] }, null));
    }
    if (await endStreamByFault(fault, req, res)) return;
    const tool = fault.kind === 'ok' ? fault.tool : undefined;
    if (tool) {
      const half = tool.arguments.length >> 1;
      await write(res, chunk({ tool_calls: [{ index: 0, id: `call_${name}_${created}`, type: 'function', function: { name: tool.name, arguments: tool.arguments.slice(0, half) } }] }, null));
      await write(res, chunk({ tool_calls: [{ index: 0, function: { arguments: tool.arguments.slice(half) } }] }, null));
    }
    if (parallel) {
      const halves = parallel.map((t) => [t.arguments.slice(0, t.arguments.length >> 1), t.arguments.slice(t.arguments.length >> 1)] as const);
      for (const [i, t] of parallel.entries()) await write(res, chunk({ tool_calls: [{ index: i, id: callId(i), type: 'function', function: { name: t.name, arguments: '' } }] }, null));
      for (const half of [0, 1] as const) for (const i of parallel.keys()) await write(res, chunk({ tool_calls: [{ index: i, function: { arguments: halves[i]![half] } }] }, null));
    }
    await write(res, chunk({}, tool || parallel ? 'tool_calls' : 'stop'));
    if (includeUsage) {
      await write(res, `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
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
    set fault(f: Fault) {
      state.fault = f;
    },
    queue(...faults: Fault[]) {
      pending.push(...faults);
    },
    openConnections() {
      return sockets.size;
    },
    async close() {
      for (const r of held) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A minimal OpenAI Responses answer (`POST …/responses`), streamed with the Responses events when asked. */
async function responses(res: ServerResponse, body: Record<string, unknown>, name: string, n: number, inputTokens: number, text: string, chunks: number): Promise<void> {
  const model = typeof body['model'] === 'string' ? body['model'] : name;
  const item = { id: `msg_${name}_${n}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] };
  const pieces = split(text, chunks);
  const response = { id: `resp_${name}_${n}`, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'completed', model, output: [item], usage: { input_tokens: inputTokens, output_tokens: pieces.length, total_tokens: inputTokens + pieces.length } };
  if (body['stream'] !== true) return json(res, 200, response);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => write(res, `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  await ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } });
  await ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
  for (const p of pieces) await ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: p });
  await ev('response.output_item.done', { output_index: 0, item });
  await ev('response.completed', { response });
  res.end();
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
