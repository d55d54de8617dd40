/**
 * Anthropic's Messages API (`POST /v1/messages`) to and from chat completions, both ways:
 *
 * As a face (clients of the Anthropic SDK calling routecore):
 * - {@link messagesToChat}: a Messages request (`system`, content blocks, `tool_use` / `tool_result`,
 *   tools, `tool_choice`, `stop_sequences`) as a chat request.
 * - {@link chatToMessage}: a `chat.completion` as a `message` (text and `tool_use` blocks, stop reason, usage).
 * - {@link MessagesStreamWriter}: `chat.completion.chunk`s as Messages stream events (`message_start`,
 *   `content_block_start` / `_delta` / `_stop`, `message_delta`, `message_stop`).
 *
 * As an upstream (registry `provider: anthropic`, or `api: anthropic`):
 * - {@link chatToMessages}: a chat request as a Messages request (system prompts lifted into `system`,
 *   tool results as `tool_result` blocks in a user turn, consecutive same-role turns merged).
 * - {@link messageToChat}: a `message` as a `chat.completion`.
 * - {@link AnthropicChunkReader}: Messages stream events as `chat.completion.chunk`s, with usage.
 *
 * Stop reasons: `end_turn`/`stop_sequence`/`pause_turn` ↔ `stop`, `max_tokens` ↔ `length`, `tool_use` ↔
 * `tool_calls`, `refusal` ↔ `content_filter`, `model_context_window_exceeded` → `length`. Usage:
 * `input_tokens` + cache reads + cache writes ↔ `prompt_tokens` (the cache's share also given apart, as
 * `prompt_tokens_details.cached_tokens` and `cache_creation_input_tokens`, for its own prices),
 * `output_tokens` ↔ `completion_tokens`.
 * @module
 */
import { createHash } from 'node:crypto';

import type { ChatMessage, ChatRequest, ContentPart } from '../chat/messages.js';
import { WireError, type NativeOnly, badField, recordClientFields, withoutToolFieldsIfNoTools, chatUsage, chunkDelta, copySamplingFields, firstChoice, isObject, optNumber, optString, parseJsonObject, sseEvent, TOOL_MEDIA_NOTE, wireId, type Json } from './common.js';

/** The `anthropic-version` routecore sends upstream and accepts from clients when they send none. */
export const ANTHROPIC_VERSION = '2023-06-01';

/** `max_tokens` sent to an Anthropic upstream when a chat request sets none (the Messages API requires it). */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

const KNOWN_FIELDS = new Set([
  'model', 'messages', 'system', 'max_tokens', 'stop_sequences', 'temperature', 'top_p', 'top_k', 'stream', 'tools',
  'tool_choice', 'metadata', 'thinking', 'service_tier', 'container', 'mcp_servers', 'context_management', 'output_config',
]);

// ---------------------------------------------------------------------------------------------------
// Face: Messages request -> chat

/**
 * Translates a Messages request into a chat-completions request. Throws {@link WireError} naming the
 * field at fault (Anthropic's own validation rules: `max_tokens` and a non-empty `messages` are
 * required, roles alternate between user and assistant freely here, content blocks are typed).
 * With `nativeOnly`, what chat cannot carry but Anthropic takes (unknown fields, server tools, other
 * block types) is reported to it and left out instead of refused.
 */
export function messagesToChat(body: unknown, nativeOnly?: NativeOnly): ChatRequest {
  if (!isObject(body)) throw new WireError('invalid_body', null, 'the request body must be a JSON object (a Messages request with "messages" and "max_tokens")');
  if (body['thread'] !== undefined && body['thread'] !== null) {
    // A message thread keeps the conversation at Anthropic, and a `continue` sends only the new turn:
    // routecore could neither route on the conversation nor fall back to a model that never saw it.
    // Refused in the way the Anthropic SDK recovers from (its tool runner then sends the whole history).
    throw new WireError(THREAD_UNSUPPORTED, 'thread', 'body.thread: routecore keeps no message threads (it routes every turn on the whole conversation); send the full history instead');
  }
  for (const key of Object.keys(body)) {
    if (KNOWN_FIELDS.has(key)) continue;
    if (!nativeOnly) throw new WireError('unknown_parameter', key, `body.${key}: Extra inputs are not permitted (not a Messages API parameter)`);
    nativeOnly(key, `body.${key} (a Messages API field routecore does not translate)`);
  }
  for (const key of ['container', 'mcp_servers', 'context_management']) {
    if (body[key] === undefined || body[key] === null) continue;
    if (!nativeOnly) throw new WireError('unsupported_parameter', key, `body.${key} runs inside Anthropic's platform only and is not supported by routecore`);
    nativeOnly(key, `body.${key}, which runs inside Anthropic's platform`);
  }
  const maxTokens = body['max_tokens'];
  // null is missing too (Anthropic refuses it): a null the translation let through reached an Anthropic upstream unchanged.
  if (maxTokens === undefined || maxTokens === null) throw new WireError('missing_max_tokens', 'max_tokens', 'body.max_tokens: Field required');
  const max = optNumber(body, 'max_tokens', 1, 10_000_000, 'max_tokens', true)!;
  const raw = body['messages'];
  if (!Array.isArray(raw) || raw.length === 0) {
    if (raw === undefined) throw new WireError('missing_messages', 'messages', 'body.messages: Field required');
    badField('messages', 'a non-empty array of {role, content} messages', raw);
  }

  const messages: ChatMessage[] = [];
  // The client's message of each (-1: the system prompt), for errors found in them later (recordClientFields).
  const from: number[] = [];
  const system = body['system'];
  if (system !== undefined && system !== null) {
    const text = typeof system === 'string' ? system : Array.isArray(system) ? system.map((b, i) => blockText(b, `system[${i}]`)).join('\n') : badField('system', 'a string or an array of text blocks', system);
    if (text !== '') {
      messages.push({ role: 'system', content: text });
      from.push(-1);
    }
  }
  for (let i = 0; i < raw.length; i++) {
    for (const m of turnToChat(raw[i], i, nativeOnly)) {
      messages.push(m);
      from.push(i);
    }
  }
  recordClientFields(messages, from, clientField);

  const chat: ChatRequest = { messages, max_completion_tokens: max };
  copySamplingFields(body, chat, 1);
  optNumber(body, 'top_k', 0, 1_000_000, 'top_k', true); // validated; chat completions has no top_k
  const stops = body['stop_sequences'];
  if (stops !== undefined && stops !== null) {
    if (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string')) badField('stop_sequences', 'an array of strings', stops);
    if (stops.length > 0) chat['stop'] = stops;
  }
  const metadata = body['metadata'];
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) badField('metadata', 'an object such as {"user_id": "..."}', metadata);
    const user = optString(metadata, 'user_id', 'metadata.user_id');
    // OpenAI takes a `user` of at most 64 characters and refuses a longer one (a 400 that would end the
    // request); Claude Code's user ids are about 160. A longer id goes as its SHA-256: still one stable id per user.
    if (user !== undefined) chat['user'] = user.length <= 64 ? user : createHash('sha256').update(user).digest('hex');
  }
  const tools = body['tools'];
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) badField('tools', 'an array of tools', tools);
    const translated = tools.map((t, i) => toolToChat(t, i, nativeOnly)).filter((t): t is Json => t !== undefined);
    if (translated.length > 0) chat['tools'] = translated;
  }
  const choice = body['tool_choice'];
  if (choice !== undefined && choice !== null) {
    if (!isObject(choice)) badField('tool_choice', 'an object such as {"type": "auto"}', choice);
    switch (choice['type']) {
      case 'auto':
        chat['tool_choice'] = 'auto';
        break;
      case 'any':
        chat['tool_choice'] = 'required';
        break;
      case 'none':
        chat['tool_choice'] = 'none';
        break;
      case 'tool':
        if (typeof choice['name'] !== 'string') badField('tool_choice.name', 'a tool name', choice['name']);
        chat['tool_choice'] = { type: 'function', function: { name: choice['name'] } };
        break;
      default:
        badField('tool_choice.type', '"auto", "any", "tool" or "none"', choice['type']);
    }
    if (choice['disable_parallel_tool_use'] === true) chat['parallel_tool_calls'] = false;
  }
  const thinking = body['thinking'];
  if (thinking !== undefined && thinking !== null) {
    if (nativeOnly && isObject(thinking) && typeof thinking['type'] === 'string' && !['enabled', 'disabled', 'adaptive'].includes(thinking['type'])) nativeOnly('thinking.type', `thinking of type ${JSON.stringify(thinking['type'])}`);
    else if (!isObject(thinking) || (thinking['type'] !== 'enabled' && thinking['type'] !== 'disabled' && thinking['type'] !== 'adaptive')) badField('thinking', 'an object {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}', thinking);
    // Validated, not translated: chat upstreams take an effort, not a token budget, and a model that
    // does not reason refuses `reasoning_effort` with a 400 (which would end the request, not fall
    // back). Reasoning models reason at their default effort; an Anthropic upstream gets the client's
    // own body, `thinking` included.
    if (thinking['type'] === 'enabled') {
      const budget = optNumber(thinking, 'budget_tokens', 1024, 10_000_000, 'thinking.budget_tokens', true);
      if (budget !== undefined && budget >= max) badField('thinking.budget_tokens', `fewer tokens than max_tokens (${max})`, budget);
    }
  }
  const output = body['output_config'];
  if (output !== undefined && output !== null) outputConfigToChat(output, chat, nativeOnly);
  return withoutToolFieldsIfNoTools(chat);
}

/** The client's field of a translated message's content: its turn's, or the system prompt (-1). */
function clientField(at: number): string {
  return at < 0 ? 'system' : `messages[${at}].content`;
}

/**
 * `output_config` in chat terms: a JSON-schema `format` (Anthropic's structured outputs) becomes
 * chat's `response_format` (not `strict`: OpenAI's strict mode refuses schemas Anthropic takes, and a
 * refusal would end the request instead of falling back); `effort` is validated and, like `thinking`,
 * not sent to chat upstreams (a model that does not reason refuses an effort). Anything else keeps the
 * request to Anthropic models.
 */
function outputConfigToChat(output: unknown, chat: ChatRequest, nativeOnly: NativeOnly | undefined): void {
  if (!isObject(output)) badField('output_config', 'an object such as {"format": {"type": "json_schema", "schema": {...}}}', output);
  for (const key of Object.keys(output)) {
    if (key === 'effort') optString(output, 'effort', 'output_config.effort');
    else if (key === 'format') {
      const format = output['format'];
      if (format === null) continue;
      if (!isObject(format) || format['type'] !== 'json_schema' || !isObject(format['schema'])) badField('output_config.format', 'an object {"type": "json_schema", "schema": {...}}', format);
      chat['response_format'] = { type: 'json_schema', json_schema: { name: 'output', schema: format['schema'] } };
    } else if (nativeOnly) nativeOnly(`output_config.${key}`, `body.output_config.${key} (a Messages API field routecore does not translate)`);
    else throw new WireError('unknown_parameter', `output_config.${key}`, `body.output_config.${key}: Extra inputs are not permitted`);
  }
}

function blockText(b: unknown, path: string): string {
  if (!isObject(b) || b['type'] !== 'text' || typeof b['text'] !== 'string') badField(path, 'a text block {"type": "text", "text": ...}', b);
  return b['text'] as string;
}

function toolToChat(t: unknown, i: number, nativeOnly: NativeOnly | undefined): Json | undefined {
  const path = `tools[${i}]`;
  if (!isObject(t)) badField(path, 'a tool object', t);
  if (t['type'] !== undefined && t['type'] !== 'custom') {
    if (nativeOnly && typeof t['type'] === 'string') {
      nativeOnly(`${path}.type`, `Anthropic's server tool ${JSON.stringify(t['type'])}`);
      return undefined;
    }
    throw new WireError('unsupported_tool', `${path}.type`, `body.${path}.type is ${JSON.stringify(t['type'])}: only custom tools (name, description, input_schema) are supported; Anthropic's server tools run inside Anthropic only`);
  }
  const name = t['name'];
  if (typeof name !== 'string' || name === '') badField(`${path}.name`, 'a non-empty string', name);
  if (!isObject(t['input_schema'])) badField(`${path}.input_schema`, 'a JSON schema object', t['input_schema']);
  const fn: Json = { name, parameters: t['input_schema'] };
  if (typeof t['description'] === 'string') fn['description'] = t['description'];
  return { type: 'function', function: fn };
}

/** An image block as a chat image part (base64 sources become data: URLs); a source only Anthropic reads is reported to `nativeOnly` and stands as a text naming it (as in turnToChat). */
function imagePart(b: Json, path: string, nativeOnly: NativeOnly | undefined): ContentPart {
  const src = b['source'];
  if (!isObject(src)) badField(`${path}.source`, 'an image source object', src);
  if (src['type'] === 'base64') {
    if (typeof src['media_type'] !== 'string' || typeof src['data'] !== 'string') badField(`${path}.source`, 'a base64 source {media_type, data}', src);
    return { type: 'image_url', image_url: { url: `data:${src['media_type']};base64,${src['data']}` } };
  }
  if (src['type'] === 'url') {
    if (typeof src['url'] !== 'string') badField(`${path}.source.url`, 'a URL string', src['url']);
    return { type: 'image_url', image_url: { url: src['url'] } };
  }
  if (nativeOnly && typeof src['type'] === 'string') {
    nativeOnly(`${path}.source.type`, `an image source of type ${JSON.stringify(src['type'])}`);
    return { type: 'text', text: '(an image)' };
  }
  return badField(`${path}.source.type`, '"base64" or "url"', src['type'], 'unsupported_content');
}

/** A `document` block as a chat part: a text source as text, a base64 one (a PDF) as a file. */
function documentPart(b: Json, at: string, nativeOnly: NativeOnly | undefined): ContentPart {
  const src = b['source'];
  if (isObject(src) && src['type'] === 'text' && typeof src['data'] === 'string') return { type: 'text', text: src['data'] };
  if (isObject(src) && src['type'] === 'base64' && typeof src['data'] === 'string') return { type: 'file', file: { file_data: `data:${String(src['media_type'] ?? 'application/pdf')};base64,${src['data']}`, filename: typeof b['title'] === 'string' ? b['title'] : 'document.pdf' } };
  if (nativeOnly && isObject(src) && typeof src['type'] === 'string') {
    nativeOnly(`${at}.source.type`, `a document source of type ${JSON.stringify(src['type'])}`);
    return { type: 'text', text: '(a document)' };
  }
  return badField(`${at}.source`, 'a text or base64 document source', src, 'unsupported_content');
}

/**
 * A `tool_result`'s content in chat terms: its text (text blocks, text documents, search results), and
 * its images and PDFs apart (a chat tool message takes text only; they go in the user message after
 * the turn's tool messages, each noted in the text where it stood).
 */
function toolResultToChat(c: unknown, at: string, nativeOnly: NativeOnly | undefined): { text: string; media: ContentPart[] } {
  if (c === undefined || c === null) return { text: '', media: [] };
  if (typeof c === 'string') return { text: c, media: [] };
  if (!Array.isArray(c)) return badField(`${at}.content`, 'a string or an array of content blocks', c);
  let text = '';
  const media: ContentPart[] = [];
  for (let k = 0; k < c.length; k++) {
    const x = c[k] as unknown;
    const here = `${at}.content[${k}]`;
    if (!isObject(x)) badField(here, 'a content block object', x);
    const part = x['type'] === 'text' ? ({ type: 'text', text: blockText(x, here) } as ContentPart)
      : x['type'] === 'image' ? imagePart(x, here, nativeOnly)
      : x['type'] === 'document' ? documentPart(x, here, nativeOnly)
      : x['type'] === 'search_result' ? { type: 'text' as const, text: searchResultText(x, here) }
      : undefined;
    if (part === undefined) {
      if (!nativeOnly || typeof x['type'] !== 'string') badField(`${here}.type`, 'text, image, document or search_result', x['type'], 'unsupported_content');
      nativeOnly(`${here}.type`, `a ${JSON.stringify(x['type'])} block in a tool result`);
      text += `(${x['type']})`;
    } else if (part.type === 'text') text += part.text;
    else {
      text += TOOL_MEDIA_NOTE;
      media.push(part);
    }
  }
  return { text, media };
}

/** A `search_result` block as text: its title, source and text content. */
function searchResultText(x: Json, at: string): string {
  const content = x['content'];
  if (!Array.isArray(content)) badField(`${at}.content`, 'an array of text blocks', content);
  const body = content.map((b, i) => blockText(b, `${at}.content[${i}]`)).join('\n');
  const head = [x['title'], x['source']].filter((v): v is string => typeof v === 'string' && v !== '').join(' — ');
  return head === '' ? body : `${head}\n${body}`;
}

/** One Messages turn as chat messages (tool results become `tool` messages, placed before the turn's other content). */
function turnToChat(turn: unknown, i: number, nativeOnly: NativeOnly | undefined): ChatMessage[] {
  const path = `messages[${i}]`;
  if (!isObject(turn)) badField(path, 'a message object {role, content}', turn);
  const role = turn['role'];
  if (role !== 'user' && role !== 'assistant') badField(`${path}.role`, '"user" or "assistant"', role);
  const content = turn['content'];
  if (typeof content === 'string') return [{ role, content }];
  if (!Array.isArray(content)) badField(`${path}.content`, 'a string or an array of content blocks', content);
  const out: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  const calls: Json[] = [];
  let text = '';
  for (let j = 0; j < content.length; j++) {
    const b = content[j] as unknown;
    const at = `${path}.content[${j}]`;
    if (!isObject(b)) badField(at, 'a content block object', b);
    switch (b['type']) {
      case 'text':
        if (typeof b['text'] !== 'string') badField(`${at}.text`, 'a string', b['text']);
        if (role === 'assistant') text += b['text'];
        else parts.push({ type: 'text', text: b['text'] });
        break;
      case 'image':
        if (role === 'assistant') badField(`${at}.type`, 'text or tool_use in an assistant turn', b['type']);
        parts.push(imagePart(b, at, nativeOnly));
        break;
      case 'document':
        parts.push(documentPart(b, at, nativeOnly));
        break;
      case 'tool_use': {
        if (role !== 'assistant') badField(`${at}.type`, 'text, image or tool_result in a user turn', b['type']);
        if (typeof b['id'] !== 'string' || typeof b['name'] !== 'string') badField(at, 'a tool_use block {id, name, input}', b);
        calls.push({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) } });
        break;
      }
      case 'tool_result': {
        if (role !== 'user') badField(`${at}.type`, 'text or tool_use in an assistant turn', b['type']);
        if (typeof b['tool_use_id'] !== 'string') badField(`${at}.tool_use_id`, 'the id of a tool_use block', b['tool_use_id']);
        const result = toolResultToChat(b['content'], at, nativeOnly);
        // Chat has no error flag on a tool result: say it in the content, as the model would read it.
        out.push({ role: 'tool', tool_call_id: b['tool_use_id'], content: b['is_error'] === true ? `Error: ${result.text}` : result.text });
        // A chat tool message holds text only: the result's images and files follow in the turn's user message.
        parts.push(...result.media);
        break;
      }
      case 'thinking':
      case 'redacted_thinking':
        // Thinking belongs to the model that produced it; chat upstreams take none back.
        break;
      default:
        if (nativeOnly && typeof b['type'] === 'string') {
          // A text naming the block: the translation serves routing and the log only (no chat upstream gets it).
          nativeOnly(`${at}.type`, `a ${JSON.stringify(b['type'])} content block`);
          if (role === 'user') parts.push({ type: 'text', text: `(${b['type']})` });
        } else badField(`${at}.type`, 'text, image, document, tool_use, tool_result or thinking', b['type'], 'unsupported_content');
    }
  }
  if (role === 'assistant') {
    const msg: ChatMessage = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
    if (calls.length > 0) msg.tool_calls = calls;
    out.push(msg);
  } else if (parts.length > 0) {
    out.push({ role: 'user', content: parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('\n') : parts });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Face: chat answer -> Messages answer

const STOP_FROM_CHAT: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal' };
const STOP_TO_CHAT: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  // The answer was cut by the context window: OpenAI says `length` for the same.
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

function parseArguments(args: unknown): Json {
  if (typeof args !== 'string' || args.trim() === '') return {};
  return parseJsonObject(args) ?? { _raw: args };
}

/** Options of {@link chatToMessage} and {@link MessagesStreamWriter}. */
export interface MessageMeta {
  /** The message id; default a new `msg_…`. */
  id?: string;
  /** The model to report (the registry id that answered). */
  model: string;
  /**
   * The prompt's input tokens as estimated before the call, for the stream's `message_start` (a chat
   * upstream counts them only at the end, which `message_delta` carries); default 0.
   */
  inputTokens?: number;
}

/** A Messages `usage` object from chat usage: OpenAI's prompt_tokens include the cached ones; Anthropic's input_tokens do not (they add up). */
function messagesUsage(u: ReturnType<typeof chatUsage>): Json {
  return { input_tokens: Math.max(0, (u?.prompt_tokens ?? 0) - (u?.cached_tokens ?? 0)), output_tokens: u?.completion_tokens ?? 0, cache_read_input_tokens: u?.cached_tokens ?? 0, cache_creation_input_tokens: 0 };
}

/** A `chat.completion` as a Messages `message`. */
export function chatToMessage(completion: Json, meta: MessageMeta): Json {
  const choice = firstChoice(completion);
  const message = (isObject(choice?.['message']) ? choice['message'] : {}) as Json;
  const content: Json[] = [];
  const text = typeof message['content'] === 'string' ? message['content'] : typeof message['refusal'] === 'string' ? message['refusal'] : '';
  if (text !== '') content.push({ type: 'text', text });
  for (const c of Array.isArray(message['tool_calls']) ? message['tool_calls'] : []) {
    if (!isObject(c)) continue;
    const fn = isObject(c['function']) ? c['function'] : {};
    content.push({ type: 'tool_use', id: typeof c['id'] === 'string' ? c['id'] : wireId('toolu_'), name: typeof fn['name'] === 'string' ? fn['name'] : '', input: parseArguments(fn['arguments']) });
  }
  return {
    id: meta.id ?? wireId('msg_'),
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: STOP_FROM_CHAT[String(choice?.['finish_reason'])] ?? 'end_turn',
    stop_sequence: null,
    usage: messagesUsage(chatUsage(completion['usage'])),
  };
}

/** One streamed tool call of a {@link MessagesStreamWriter}. */
interface StreamedCall {
  id: string;
  name: string;
  /** The arguments received so far. */
  args: string;
  /** Its `content_block_stop` has been sent. */
  done: boolean;
}

/** Whether a tool call's arguments so far are a whole JSON object (an upstream sends nothing more for it). */
function wholeObject(args: string): boolean {
  return args.trimEnd().endsWith('}') && parseJsonObject(args) !== undefined;
}

/**
 * Turns `chat.completion.chunk`s into Messages stream events (SSE text with `event:` names, which the
 * Anthropic SDK needs). {@link start}, then {@link chunk} per upstream chunk, then {@link finish} (or
 * {@link fail}). Text and each tool call are content blocks, sent strictly one after the other (start,
 * deltas, stop), as Anthropic does: clients take a tool call as whole at its `content_block_stop`.
 *
 * A chat upstream may interleave the argument deltas of parallel tool calls (index 0, 1, 0, 1, ...),
 * which Anthropic's wire cannot carry. The call whose block is open streams live; the calls that begin
 * meanwhile wait, their arguments kept. Once the open call's arguments are a whole JSON object, it is
 * closed and the first waiting call opens, its arguments so far in one `input_json_delta`, and streams
 * live from there; text or the finish closes the open call and sends each waiting one as a whole block.
 * (The Responses writer keeps several items open instead: that wire allows it.)
 */
export class MessagesStreamWriter {
  readonly #meta: MessageMeta;
  readonly #id: string;
  #index = -1;
  #open: 'text' | 'tool' | null = null;
  /** Every tool call seen, by its chat index. */
  readonly #tools = new Map<number, StreamedCall>();
  /** The tool call of the open block (when {@link #open} is `tool`). */
  #current: StreamedCall | null = null;
  /** Tool calls seen while another one's block was open, in the order they began; sent once it closes. */
  #waiting: StreamedCall[] = [];
  #finish: string | null = null;
  #usage: ReturnType<typeof chatUsage> = null;

  constructor(meta: MessageMeta) {
    this.#meta = meta;
    this.#id = meta.id ?? wireId('msg_');
  }

  /** The message id. */
  get id(): string {
    return this.#id;
  }

  /** `message_start`, with the estimated input tokens (a chat upstream counts them at the end: `message_delta`). */
  start(): string {
    const usage = { input_tokens: this.#meta.inputTokens ?? 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
    return sseEvent('message_start', {
      type: 'message_start',
      message: { id: this.#id, type: 'message', role: 'assistant', model: this.#meta.model, content: [], stop_reason: null, stop_sequence: null, usage },
    });
  }

  #close(): string {
    if (this.#open === null) return '';
    if (this.#current) this.#current.done = true;
    this.#open = null;
    this.#current = null;
    return sseEvent('content_block_stop', { type: 'content_block_stop', index: this.#index });
  }

  /** Opens a tool call's block (after closing the open one), with its arguments so far as one delta. */
  #openTool(call: StreamedCall): string {
    let events = this.#close();
    this.#open = 'tool';
    this.#current = call;
    events += sseEvent('content_block_start', { type: 'content_block_start', index: ++this.#index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
    if (call.args !== '') events += sseEvent('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'input_json_delta', partial_json: call.args } });
    return events;
  }

  /** Closes the open block and sends every waiting tool call, each a whole block. */
  #closeAll(): string {
    let events = this.#close();
    for (const call of this.#waiting) events += this.#openTool(call) + this.#close();
    this.#waiting = [];
    return events;
  }

  /** The events for one `chat.completion.chunk`. */
  chunk(chunk: Json): string {
    let events = '';
    const u = chatUsage(chunk['usage']);
    if (u) this.#usage = u;
    const choice = firstChoice(chunk);
    if (!choice) return events;
    const { delta, piece } = chunkDelta(choice);
    if (piece !== '') {
      if (this.#open !== 'text') {
        events += this.#closeAll();
        this.#open = 'text';
        events += sseEvent('content_block_start', { type: 'content_block_start', index: ++this.#index, content_block: { type: 'text', text: '' } });
      }
      events += sseEvent('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'text_delta', text: piece } });
    }
    if (Array.isArray(delta['tool_calls'])) {
      for (const tc of delta['tool_calls']) {
        if (!isObject(tc)) continue;
        const idx = typeof tc['index'] === 'number' ? tc['index'] : 0;
        const fn = isObject(tc['function']) ? tc['function'] : {};
        const args = typeof fn['arguments'] === 'string' ? fn['arguments'] : '';
        let call = this.#tools.get(idx);
        if (call === undefined) {
          call = { id: typeof tc['id'] === 'string' ? tc['id'] : wireId('toolu_'), name: typeof fn['name'] === 'string' ? fn['name'] : '', args, done: false };
          this.#tools.set(idx, call);
          if (this.#current) this.#waiting.push(call);
          else events += this.#openTool(call);
        } else if (call === this.#current) {
          call.args += args;
          if (args !== '') events += sseEvent('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'input_json_delta', partial_json: args } });
        } else if (!call.done) {
          call.args += args;
        }
        // Arguments for a call whose block is closed (text came between its deltas) have no place on
        // Anthropic's wire, where a block's deltas all come before its stop: they are left out.
      }
      // The open call is over once its arguments are a whole object: the next waiting one goes on live.
      while (this.#current && this.#waiting.length > 0 && wholeObject(this.#current.args)) events += this.#openTool(this.#waiting.shift()!);
    }
    if (typeof choice['finish_reason'] === 'string') this.#finish = choice['finish_reason'];
    return events;
  }

  /** Closes the open block (and sends the waiting tool calls), then `message_delta` (stop reason, usage) and `message_stop`. */
  finish(): string {
    return (
      this.#closeAll() +
      sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: STOP_FROM_CHAT[String(this.#finish)] ?? 'end_turn', stop_sequence: null }, usage: messagesUsage(this.#usage) }) +
      sseEvent('message_stop', { type: 'message_stop' })
    );
  }

  /** An `error` event (the Anthropic SDK raises it as an APIError) after a failure mid-stream. */
  fail(type: string, message: string): string {
    return sseEvent('error', { type: 'error', error: { type, message } });
  }
}

// ---------------------------------------------------------------------------------------------------
// Upstream: chat request -> Messages request

/** Options of {@link chatToMessages}. */
export interface ToMessagesOptions {
  /** The Anthropic model id to call. */
  model: string;
  /** `max_tokens` when the chat request sets none; default {@link DEFAULT_ANTHROPIC_MAX_TOKENS}. */
  defaultMaxTokens?: number;
}

function chatText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObject(p) && p['type'] === 'text' && typeof p['text'] === 'string' ? p['text'] : isObject(p) && typeof p['refusal'] === 'string' ? p['refusal'] : '')).join('');
}

/** A chat image URL as an Anthropic image source. */
function imageSource(url: string): Json {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: 'base64', media_type: m[1], data: m[2] };
  return { type: 'url', url };
}

function userBlocks(content: unknown): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const out: Json[] = [];
  for (const p of content) {
    if (!isObject(p)) continue;
    if (p['type'] === 'text' && typeof p['text'] === 'string') out.push({ type: 'text', text: p['text'] });
    else if (p['type'] === 'image_url') {
      const img = p['image_url'];
      const url = typeof img === 'string' ? img : isObject(img) && typeof img['url'] === 'string' ? img['url'] : undefined;
      if (url !== undefined) out.push({ type: 'image', source: imageSource(url) });
    } else if (p['type'] === 'file' && isObject(p['file']) && typeof p['file']['file_data'] === 'string') {
      const src = imageSource(p['file']['file_data']);
      if (src['type'] === 'base64') out.push({ type: 'document', source: src });
    }
  }
  return out;
}

/**
 * The first field of a chat request that the Messages API cannot carry and that changes what the
 * client gets back (more choices, log-probabilities, a JSON format), as `[param, why]`; undefined when
 * there is none. The Anthropic attempt refuses such a request (the next model, an OpenAI-compatible
 * one, may take it; none can: a 400 naming the field) rather than answer something else than asked.
 * Sampling hints with no Messages equivalent (`seed`, `frequency_penalty`, `presence_penalty`,
 * `logit_bias`, `reasoning_effort`) are left out of the translation: the answer keeps its shape.
 */
export function unsupportedByMessages(chat: ChatRequest): [param: string, why: string] | undefined {
  const n = chat['n'];
  if (typeof n === 'number' && n > 1) return ['n', `n = ${n}: the Messages API answers one choice`];
  if (chat['logprobs'] === true) return ['logprobs', 'the Messages API returns no log-probabilities'];
  const top = chat['top_logprobs'];
  if (typeof top === 'number' && top > 0) return ['top_logprobs', 'the Messages API returns no log-probabilities'];
  const format = chat['response_format'];
  if (isObject(format) && format['type'] !== undefined && format['type'] !== 'text') {
    return ['response_format', `response_format ${JSON.stringify(format['type'])}: routecore does not translate structured output to the Messages API`];
  }
  return undefined;
}

/**
 * A chat request as a Messages request for an Anthropic upstream. System and developer turns become
 * `system`; assistant tool calls become `tool_use` blocks; `tool` turns become `tool_result` blocks of a
 * user turn; consecutive turns of one role are merged (the Messages API wants them alternating).
 */
export function chatToMessages(chat: ChatRequest, options: ToMessagesOptions): Json {
  const system: string[] = [];
  const messages: { role: 'user' | 'assistant'; content: Json[] }[] = [];
  const push = (role: 'user' | 'assistant', blocks: Json[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of chat.messages) {
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = chatText(m.content);
        if (t !== '') system.push(t);
        break;
      }
      case 'user':
        push('user', userBlocks(m.content));
        break;
      case 'assistant': {
        const blocks: Json[] = [];
        const t = chatText(m.content);
        if (t !== '') blocks.push({ type: 'text', text: t });
        for (const c of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
          if (!isObject(c)) continue;
          const fn = isObject(c['function']) ? c['function'] : {};
          blocks.push({ type: 'tool_use', id: typeof c['id'] === 'string' ? c['id'] : wireId('toolu_'), name: String(fn['name'] ?? ''), input: parseArguments(fn['arguments']) });
        }
        push('assistant', blocks);
        break;
      }
      case 'tool':
      case 'function':
        push('user', [{ type: 'tool_result', tool_use_id: String(m.tool_call_id ?? m.name ?? ''), content: chatText(m.content) }]);
        break;
      default:
        break;
    }
  }
  // The Messages API requires the first turn to be the user's.
  if (messages.length > 0 && messages[0]!.role === 'assistant') messages.unshift({ role: 'user', content: [{ type: 'text', text: '(continue)' }] });
  const out: Json = { model: options.model, messages };
  if (system.length > 0) out['system'] = system.join('\n\n');
  const max = chat['max_completion_tokens'] ?? chat['max_tokens'];
  out['max_tokens'] = typeof max === 'number' && max > 0 ? max : (options.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS);
  // Anthropic's temperature range is [0, 1]; OpenAI's is [0, 2].
  if (typeof chat['temperature'] === 'number') out['temperature'] = Math.min(1, Math.max(0, chat['temperature']));
  if (typeof chat['top_p'] === 'number') out['top_p'] = chat['top_p'];
  const stop = chat['stop'];
  if (typeof stop === 'string') out['stop_sequences'] = [stop];
  else if (Array.isArray(stop) && stop.length > 0) out['stop_sequences'] = stop;
  const user = chat['user'] ?? chat['safety_identifier'];
  if (typeof user === 'string') out['metadata'] = { user_id: user };
  if (chat.stream === true) out['stream'] = true;
  const tools = chat['tools'];
  if (Array.isArray(tools) && tools.length > 0) {
    out['tools'] = tools
      .filter((t): t is Json => isObject(t) && t['type'] === 'function' && isObject(t['function']))
      .map((t) => {
        const fn = t['function'] as Json;
        const tool: Json = { name: fn['name'], input_schema: isObject(fn['parameters']) ? fn['parameters'] : { type: 'object', properties: {} } };
        if (typeof fn['description'] === 'string') tool['description'] = fn['description'];
        return tool;
      });
  }
  const choice = chat['tool_choice'];
  let tc: Json | undefined;
  if (choice === 'auto') tc = { type: 'auto' };
  else if (choice === 'required') tc = { type: 'any' };
  else if (choice === 'none') tc = { type: 'none' };
  else if (isObject(choice) && isObject(choice['function'])) tc = { type: 'tool', name: choice['function']['name'] };
  if (chat['parallel_tool_calls'] === false && out['tools'] !== undefined) tc = { ...(tc ?? { type: 'auto' }), disable_parallel_tool_use: true };
  if (tc && out['tools'] !== undefined) out['tool_choice'] = tc;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Upstream: Messages answer -> chat

/** Token counts of an Anthropic answer in chat terms: prompt tokens include the cache's reads and writes, which are also given apart (they are priced apart). */
export interface AnthropicUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
}

/** Chat usage from a Messages usage object (`input_tokens` + cache reads + cache writes = prompt tokens). */
export function anthropicUsage(u: unknown): AnthropicUsage | null {
  if (!isObject(u)) return null;
  const input = u['input_tokens'];
  const output = u['output_tokens'];
  if (typeof input !== 'number' && typeof output !== 'number') return null;
  const cacheRead = typeof u['cache_read_input_tokens'] === 'number' ? u['cache_read_input_tokens'] : 0;
  const cacheWrite = typeof u['cache_creation_input_tokens'] === 'number' ? u['cache_creation_input_tokens'] : 0;
  return { prompt_tokens: (typeof input === 'number' ? input : 0) + cacheRead + cacheWrite, completion_tokens: typeof output === 'number' ? output : 0, cache_read_tokens: cacheRead, cache_write_tokens: cacheWrite };
}

/**
 * A chat `usage` object: cache reads as OpenAI reports them (`prompt_tokens_details.cached_tokens`),
 * cache writes under LiteLLM's name (`cache_creation_input_tokens`), both included in `prompt_tokens`.
 */
function chatUsageObject(u: AnthropicUsage): Json {
  const out: Json = { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.prompt_tokens + u.completion_tokens };
  if (u.cache_read_tokens > 0 || u.cache_write_tokens > 0) out['prompt_tokens_details'] = { cached_tokens: u.cache_read_tokens };
  if (u.cache_write_tokens > 0) out['cache_creation_input_tokens'] = u.cache_write_tokens;
  return out;
}

/** Whether a parsed body is a Messages `message`. */
export function isAnthropicMessage(v: unknown): v is Json {
  return isObject(v) && v['type'] === 'message' && Array.isArray(v['content']);
}

/** A Messages `message` as a `chat.completion` (`model` = the registry id that answered). */
export function messageToChat(message: Json, model: string): Json {
  let text = '';
  const calls: Json[] = [];
  for (const b of Array.isArray(message['content']) ? message['content'] : []) {
    if (!isObject(b)) continue;
    if (b['type'] === 'text' && typeof b['text'] === 'string') text += b['text'];
    else if (b['type'] === 'tool_use') calls.push({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input'] ?? {}) } });
  }
  const msg: Json = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
  if (calls.length > 0) msg['tool_calls'] = calls;
  const out: Json = {
    id: typeof message['id'] === 'string' ? message['id'] : wireId('msg_'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: msg, finish_reason: STOP_TO_CHAT[String(message['stop_reason'])] ?? 'stop', logprobs: null }],
  };
  const u = anthropicUsage(message['usage']);
  if (u) out['usage'] = chatUsageObject(u);
  return out;
}

/** What {@link AnthropicChunkReader.read} makes of one upstream event. */
export interface ReadEvent {
  /** Chat chunks to pass on (zero or more). */
  chunks: Json[];
  /** `message_stop`: the answer is complete. */
  done: boolean;
  /** An `error` event's message (e.g. `overloaded_error: Overloaded`). */
  error: string | null;
  /** The upstream error's type (`overloaded_error`, `api_error`, ...), for retry decisions. */
  errorType: string | null;
}

/**
 * Reads an Anthropic Messages stream (the JSON `data` of each event) into `chat.completion.chunk`s
 * with the shape OpenAI streams have: a role chunk, content / tool-call deltas, a finish chunk, and
 * (when {@link usage} is asked for) a usage-only chunk at the end.
 */
export class AnthropicChunkReader {
  readonly #model: string;
  #id = wireId('msg_');
  readonly #created = Math.floor(Date.now() / 1000);
  #input = 0;
  #cacheRead = 0;
  #cacheWrite = 0;
  #output = 0;
  /** Content block index → tool-call index in the chat stream. */
  readonly #toolIndex = new Map<number, number>();
  #tools = 0;
  #finish: string | null = null;

  constructor(model: string) {
    this.#model = model;
  }

  /** Usage so far (complete after `message_delta`), as a chat `usage` object. */
  get usage(): Json {
    return chatUsageObject({ prompt_tokens: this.#input + this.#cacheRead + this.#cacheWrite, completion_tokens: this.#output, cache_read_tokens: this.#cacheRead, cache_write_tokens: this.#cacheWrite });
  }

  #chunk(delta: Json, finish: string | null = null): Json {
    return { id: this.#id, object: 'chat.completion.chunk', created: this.#created, model: this.#model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
  }

  /** The usage-only chunk (`choices: []`) OpenAI sends last when `stream_options.include_usage` is set. */
  usageChunk(): Json {
    return { id: this.#id, object: 'chat.completion.chunk', created: this.#created, model: this.#model, choices: [], usage: this.usage };
  }

  /** One event's data. */
  read(event: Json): ReadEvent {
    const out: ReadEvent = { chunks: [], done: false, error: null, errorType: null };
    switch (event['type']) {
      case 'message_start': {
        const m = isObject(event['message']) ? event['message'] : {};
        if (typeof m['id'] === 'string') this.#id = m['id'];
        this.#takeUsage(m['usage']);
        out.chunks.push(this.#chunk({ role: 'assistant', content: '' }));
        break;
      }
      case 'content_block_start': {
        const b = isObject(event['content_block']) ? event['content_block'] : {};
        const index = typeof event['index'] === 'number' ? event['index'] : 0;
        if (b['type'] === 'tool_use') {
          const ti = this.#tools++;
          this.#toolIndex.set(index, ti);
          out.chunks.push(this.#chunk({ tool_calls: [{ index: ti, id: b['id'], type: 'function', function: { name: b['name'], arguments: '' } }] }));
        } else if (b['type'] === 'text' && typeof b['text'] === 'string' && b['text'] !== '') {
          out.chunks.push(this.#chunk({ content: b['text'] }));
        }
        break;
      }
      case 'content_block_delta': {
        const d = isObject(event['delta']) ? event['delta'] : {};
        const index = typeof event['index'] === 'number' ? event['index'] : 0;
        if (d['type'] === 'text_delta' && typeof d['text'] === 'string') out.chunks.push(this.#chunk({ content: d['text'] }));
        else if (d['type'] === 'input_json_delta' && typeof d['partial_json'] === 'string') {
          const ti = this.#toolIndex.get(index) ?? 0;
          if (d['partial_json'] !== '') out.chunks.push(this.#chunk({ tool_calls: [{ index: ti, function: { arguments: d['partial_json'] } }] }));
        } else if (d['type'] === 'thinking_delta' && typeof d['thinking'] === 'string') out.chunks.push(this.#chunk({ reasoning_content: d['thinking'] }));
        break;
      }
      case 'message_delta': {
        const d = isObject(event['delta']) ? event['delta'] : {};
        this.#takeUsage(event['usage']);
        this.#finish = STOP_TO_CHAT[String(d['stop_reason'])] ?? 'stop';
        out.chunks.push(this.#chunk({}, this.#finish));
        break;
      }
      case 'message_stop':
        out.done = true;
        break;
      case 'error': {
        const e = isObject(event['error']) ? event['error'] : {};
        out.errorType = typeof e['type'] === 'string' ? e['type'] : 'api_error';
        out.error = `${out.errorType}: ${typeof e['message'] === 'string' ? e['message'] : 'error event'}`;
        break;
      }
      default:
        break; // ping, content_block_stop, and event types added later
    }
    return out;
  }

  #takeUsage(u: unknown): void {
    if (!isObject(u)) return;
    if (typeof u['input_tokens'] === 'number') this.#input = u['input_tokens'];
    // message_start carries them; a message_delta may repeat them (cumulative counts, not increments).
    if (typeof u['cache_read_input_tokens'] === 'number' && u['cache_read_input_tokens'] > 0) this.#cacheRead = u['cache_read_input_tokens'];
    if (typeof u['cache_creation_input_tokens'] === 'number' && u['cache_creation_input_tokens'] > 0) this.#cacheWrite = u['cache_creation_input_tokens'];
    if (typeof u['output_tokens'] === 'number') this.#output = u['output_tokens'];
  }
}

/** The Anthropic-shaped error `type` for an HTTP status. */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** The error code of a request with a message thread (Anthropic's own, in the error's `details`). */
export const THREAD_UNSUPPORTED = 'thread_unsupported_request';

/**
 * An Anthropic-shaped error body; `code` {@link THREAD_UNSUPPORTED} adds the `details` Anthropic sends
 * with it (`error_code`, `unsupported`), which the SDK's message threads read to go on without one.
 */
export function anthropicError(status: number, message: string, code?: unknown): Json {
  const error: Json = { type: anthropicErrorType(status), message };
  if (code === THREAD_UNSUPPORTED) error['details'] = { error_code: THREAD_UNSUPPORTED, unsupported: ['thread'] };
  return { type: 'error', error };
}
