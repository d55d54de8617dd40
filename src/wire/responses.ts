/**
 * OpenAI's Responses API (`POST /v1/responses`) to and from chat completions.
 *
 * - {@link responsesToChat}: a Responses request (string or item `input`, `instructions`, function
 *   tools, `tool_choice`, `text.format`, `max_output_tokens`, `reasoning.effort`) as a chat request.
 * - {@link chatToResponse}: a `chat.completion` as a `response` object (message and `function_call`
 *   output items, usage, `incomplete_details`).
 * - {@link ResponsesStreamWriter}: `chat.completion.chunk`s as the Responses stream events
 *   (`response.created`, `response.output_item.added`, `response.output_text.delta`, ...,
 *   `response.completed`), each with its `sequence_number`.
 * - {@link responsesUsage} / {@link responsesEventInfo}: what the attempt runner needs from an upstream
 *   that speaks Responses itself (passed through): usage for cost, first token, end of stream.
 *
 * What does not translate is never dropped silently: `previous_response_id` and `conversation`
 * (state OpenAI keeps), built-in tools (`web_search`, `file_search`, ...) which only OpenAI runs,
 * `prompt` templates, `item_reference` items, `file_id` images and unknown fields are
 * refused with a 400 naming the field, or, given a `nativeOnly` callback (the gateway's face), reported
 * to it so that only upstreams speaking Responses get the request. `reasoning` items in the input are
 * skipped (chat upstreams take no reasoning state back).
 * @module
 */
import type { ChatMessage, ChatRequest, ContentPart } from '../chat/messages.js';
import { WireError, type NativeOnly, badField, recordClientFields, withoutToolFieldsIfNoTools, chatUsage, chunkDelta, copySamplingFields, firstChoice, isObject, optBoolean, optNumber, optString, sseEvent, TOOL_MEDIA_NOTE, wireId, type Json } from './common.js';

/** Responses request fields routecore translates or passes on; any other field is refused by name. */
const KNOWN_FIELDS = new Set([
  'model', 'input', 'instructions', 'tools', 'tool_choice', 'temperature', 'top_p', 'max_output_tokens', 'stream',
  'metadata', 'parallel_tool_calls', 'text', 'store', 'reasoning', 'user', 'truncation', 'include', 'service_tier',
  'previous_response_id', 'conversation', 'background', 'prompt', 'stream_options', 'safety_identifier', 'prompt_cache_key',
  'prompt_cache_retention', 'top_logprobs', 'max_tool_calls',
]);

/** Fields that need state only OpenAI keeps: refused with a message that says what to send instead. */
const STATEFUL: Record<string, string> = {
  previous_response_id: 'routecore stores no responses; send the whole conversation in body.input (earlier output items included)',
  conversation: 'routecore stores no conversations; send the whole conversation in body.input',
  prompt: 'stored prompt templates live in an OpenAI project; send the prompt text in body.input / body.instructions',
};

/**
 * Translates a Responses request into a chat-completions request (the `model` is kept; the gateway
 * resolves it). Throws {@link WireError} naming the field at fault. With `nativeOnly`, what only
 * OpenAI's Responses API can take (state it keeps, built-in tools, fields routecore does not know) is
 * reported to it and left out instead of refused.
 */
export function responsesToChat(body: unknown, nativeOnly?: NativeOnly): ChatRequest {
  if (!isObject(body)) throw new WireError('invalid_body', null, 'the request body must be a JSON object (a Responses request with "input")');
  if (body['background'] === true) {
    // Even an upstream of OpenAI's own wire would take it, but its answer is fetched later by id, which
    // the gateway cannot route: the client would poll a 404 while the upstream bills the answer.
    throw new WireError('unsupported_parameter', 'background', 'body.background: a background response is fetched later with GET /v1/responses/{id}, which routecore cannot answer (it keeps no responses); call without background, and stream a long answer instead');
  }
  // Whether a part only OpenAI can read was reported: then the request continues state OpenAI keeps.
  let native = false;
  const report: NativeOnly | undefined = nativeOnly && ((param, why) => {
    native = true;
    nativeOnly(param, why);
  });
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) {
      if (!report) throw new WireError('unknown_parameter', key, `body.${key} is not a Responses API parameter routecore knows`);
      report(key, `body.${key} (a Responses API field routecore does not translate)`);
      continue;
    }
    const stateful = STATEFUL[key];
    if (stateful !== undefined && body[key] !== undefined && body[key] !== null && body[key] !== false) {
      if (!report) throw new WireError('unsupported_parameter', key, `body.${key} is not supported: ${stateful}`);
      report(key, `body.${key} (state OpenAI keeps: ${stateful})`);
    }
  }
  if (body['input'] === undefined) throw new WireError('missing_input', 'input', 'body.input is required: a string, or an array of input items');
  const messages: ChatMessage[] = [];
  // Where each came from in the body, for errors found in them later (clientField; recordClientFields).
  const from: number[] = [];
  const instructions = optString(body, 'instructions');
  if (instructions !== undefined && instructions !== '') {
    messages.push({ role: 'system', content: instructions });
    from.push(INSTRUCTIONS);
  }
  inputToMessages(body['input'], report, messages, from);
  recordClientFields(messages, from, clientField);
  if (!messages.some((m) => m.role === 'user')) {
    // A turn that continues state OpenAI keeps (previous_response_id with only the tool results, as the
    // Agents SDK sends it) has its user turn upstream: routed on what it sends, and only an upstream of
    // OpenAI's wire gets it (the text below never reaches a chat upstream).
    if (!native) throw new WireError('invalid_input', 'input', 'body.input must contain at least one user message');
    const sent = messages.filter((m) => m.role === 'tool').map((m) => partsText(m.content ?? '')).join('\n');
    messages.push({ role: 'user', content: sent !== '' ? sent : '(a continuation of a response OpenAI keeps)' }); // no client field
  }

  const chat: ChatRequest = { messages };
  copySamplingFields(body, chat, 2);
  const maxOut = optNumber(body, 'max_output_tokens', 1, 10_000_000, 'max_output_tokens', true);
  // max_completion_tokens is the chat field OpenAI's current models accept (max_tokens is refused by reasoning models).
  if (maxOut !== undefined) chat['max_completion_tokens'] = maxOut;
  const parallel = optBoolean(body, 'parallel_tool_calls');
  if (parallel !== undefined) chat['parallel_tool_calls'] = parallel;
  const user = optString(body, 'user');
  if (user !== undefined) chat['user'] = user;
  // Chat completions takes both as they are (an Anthropic upstream gets either as metadata.user_id).
  const safety = optString(body, 'safety_identifier');
  if (safety !== undefined) chat['safety_identifier'] = safety;
  const retention = optString(body, 'prompt_cache_retention');
  if (retention !== undefined) chat['prompt_cache_retention'] = retention;
  checkEchoedFields(body);
  const topLogprobs = optNumber(body, 'top_logprobs', 0, 20, 'top_logprobs', true);
  if (topLogprobs !== undefined) {
    chat['logprobs'] = true;
    chat['top_logprobs'] = topLogprobs;
  }
  const tier = optString(body, 'service_tier');
  if (tier !== undefined) chat['service_tier'] = tier;
  const cacheKey = optString(body, 'prompt_cache_key');
  if (cacheKey !== undefined) chat['prompt_cache_key'] = cacheKey;

  const reasoning = body['reasoning'];
  if (reasoning !== undefined && reasoning !== null) {
    if (!isObject(reasoning)) badField('reasoning', 'an object such as {"effort": "low"}', reasoning);
    const effort = optString(reasoning, 'effort', 'reasoning.effort');
    if (effort !== undefined) chat['reasoning_effort'] = effort;
  }
  const text = body['text'];
  if (text !== undefined && text !== null) {
    if (!isObject(text)) badField('text', 'an object such as {"format": {"type": "text"}}', text);
    const format = text['format'];
    if (format !== undefined && format !== null) chat['response_format'] = textFormat(format);
    const verbosity = optString(text, 'verbosity', 'text.verbosity');
    if (verbosity !== undefined) chat['verbosity'] = verbosity;
  }
  if (body['tools'] !== undefined && body['tools'] !== null) {
    const tools = body['tools'];
    if (!Array.isArray(tools)) badField('tools', 'an array of function tools', tools);
    const translated = tools.map((t, i) => functionTool(t, i, nativeOnly)).filter((t): t is Json => t !== undefined);
    if (translated.length > 0) chat['tools'] = translated;
  }
  if (body['tool_choice'] !== undefined && body['tool_choice'] !== null) chat['tool_choice'] = toolChoice(body['tool_choice']);
  return withoutToolFieldsIfNoTools(chat);
}

function textFormat(format: unknown): Json {
  if (!isObject(format)) badField('text.format', 'an object with "type" text, json_object or json_schema', format);
  switch (format['type']) {
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const name = format['name'];
      if (typeof name !== 'string' || name === '') badField('text.format.name', 'a non-empty string', name);
      if (!isObject(format['schema'])) badField('text.format.schema', 'a JSON schema object', format['schema']);
      const schema: Json = { name, schema: format['schema'] };
      if (typeof format['strict'] === 'boolean') schema['strict'] = format['strict'];
      if (typeof format['description'] === 'string') schema['description'] = format['description'];
      return { type: 'json_schema', json_schema: schema };
    }
    default:
      return badField('text.format.type', '"text", "json_object" or "json_schema"', format['type']);
  }
}

/**
 * The fields routecore only echoes back in the response (or passes through), checked as OpenAI checks
 * them so that a mistake is a 400 here rather than a surprise later: `metadata` (at most 16 string
 * values), `store`, `include`, `truncation`.
 */
function checkEchoedFields(body: Json): void {
  const metadata = body['metadata'];
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) badField('metadata', 'an object of strings', metadata);
    const entries = Object.entries(metadata);
    if (entries.length > 16) throw new WireError('invalid_request', 'metadata', `body.metadata has ${entries.length} key-value pairs; at most 16 are allowed`);
    for (const [k, v] of entries) {
      if (k.length > 64) throw new WireError('invalid_request', 'metadata', `body.metadata has a key of ${k.length} characters (${JSON.stringify(k.slice(0, 20))}…); at most 64 are allowed`);
      if (typeof v !== 'string' || v.length > 512) badField(`metadata.${k}`, 'a string of at most 512 characters', v);
    }
  }
  if (body['store'] !== undefined && body['store'] !== null && typeof body['store'] !== 'boolean') badField('store', 'true or false', body['store']);
  const include = body['include'];
  if (include !== undefined && include !== null && (!Array.isArray(include) || include.some((x) => typeof x !== 'string'))) badField('include', 'an array of strings', include);
  const truncation = body['truncation'];
  if (truncation !== undefined && truncation !== null && truncation !== 'auto' && truncation !== 'disabled') badField('truncation', '"auto" or "disabled"', truncation);
}

function functionTool(t: unknown, i: number, nativeOnly: NativeOnly | undefined): Json | undefined {
  const path = `tools[${i}]`;
  if (!isObject(t)) badField(path, 'a tool object', t);
  if (t['type'] !== 'function') {
    if (nativeOnly && typeof t['type'] === 'string') {
      nativeOnly(`${path}.type`, `the built-in tool ${JSON.stringify(t['type'])}`);
      return undefined;
    }
    throw new WireError(
      'unsupported_tool',
      `${path}.type`,
      `body.${path}.type is ${JSON.stringify(t['type'])}: only "function" tools are supported (built-in tools such as web_search run inside OpenAI only)`,
    );
  }
  const name = t['name'];
  if (typeof name !== 'string' || name === '') badField(`${path}.name`, 'a non-empty string', name);
  const fn: Json = { name };
  if (typeof t['description'] === 'string') fn['description'] = t['description'];
  if (t['parameters'] !== undefined && t['parameters'] !== null) {
    if (!isObject(t['parameters'])) badField(`${path}.parameters`, 'a JSON schema object', t['parameters']);
    fn['parameters'] = t['parameters'];
  }
  if (typeof t['strict'] === 'boolean') fn['strict'] = t['strict'];
  return { type: 'function', function: fn };
}

function toolChoice(c: unknown): unknown {
  if (c === 'auto' || c === 'none' || c === 'required') return c;
  if (isObject(c) && c['type'] === 'function' && typeof c['name'] === 'string') return { type: 'function', function: { name: c['name'] } };
  return badField('tool_choice', '"auto", "none", "required" or {"type": "function", "name": ...}', c);
}

/** Text of a content given as a string or as text parts (for roles whose chat content is a string). */
function partsText(content: ContentPart[] | string): string {
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? p.text : p.type === 'refusal' ? p.refusal : '')).join('');
}

function contentParts(content: unknown, path: string, nativeOnly?: NativeOnly): ContentPart[] | string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) badField(path, 'a string or an array of content parts', content);
  const parts: ContentPart[] = [];
  for (let j = 0; j < content.length; j++) parts.push(contentPart(content[j], `${path}[${j}]`, nativeOnly));
  return parts;
}

/**
 * One content part as a chat part. One only OpenAI can read is reported to `nativeOnly` and stands as a
 * short text naming it: the translation then serves routing and the log only (no chat upstream gets it),
 * and a turn made of such parts is not mistaken for an empty one.
 */
function contentPart(p: unknown, at: string, nativeOnly: NativeOnly | undefined): ContentPart {
  if (!isObject(p)) badField(at, 'a content part object', p);
  switch (p['type']) {
    case 'input_text':
    case 'output_text':
    case 'text': {
      if (typeof p['text'] !== 'string') badField(`${at}.text`, 'a string', p['text']);
      return { type: 'text', text: p['text'] };
    }
    case 'refusal':
      if (typeof p['refusal'] !== 'string') badField(`${at}.refusal`, 'a string', p['refusal']);
      return { type: 'refusal', refusal: p['refusal'] };
    case 'input_image': {
      const url = p['image_url'];
      if (typeof url !== 'string' || url === '') {
        if (nativeOnly && typeof p['file_id'] === 'string') {
          nativeOnly(`${at}.file_id`, 'an image stored in OpenAI\'s files (file_id)');
          return { type: 'text', text: '(an image)' };
        }
        throw new WireError('unsupported_content', `${at}.image_url`, `body.${at}.image_url must be an image URL or data: URL (file_id images live in OpenAI's storage and are not supported)`);
      }
      const image: { url: string; detail?: string } = { url };
      if (typeof p['detail'] === 'string') image.detail = p['detail'];
      return { type: 'image_url', image_url: image };
    }
    case 'input_file': {
      if (typeof p['file_data'] !== 'string' && typeof p['file_id'] !== 'string') {
        // A file by URL is fetched by OpenAI's Responses API; chat completions has no such part.
        if (nativeOnly && typeof p['file_url'] === 'string') {
          nativeOnly(`${at}.file_url`, 'a file by URL (chat completions takes file_data or file_id only)');
          return { type: 'text', text: '(a file)' };
        }
        badField(at, 'an input_file with file_data, file_id or file_url', p);
      }
      const file: Json = {};
      for (const k of ['file_data', 'file_id', 'filename']) if (typeof p[k] === 'string') file[k] = p[k];
      return { type: 'file', file };
    }
    case 'input_audio': {
      const audio = p['input_audio'];
      if (!isObject(audio) || typeof audio['data'] !== 'string' || typeof audio['format'] !== 'string') badField(`${at}.input_audio`, 'an object {data, format}', audio);
      return { type: 'input_audio', input_audio: { data: audio['data'] as string, format: audio['format'] as string } };
    }
    default:
      if (nativeOnly && typeof p['type'] === 'string') {
        nativeOnly(`${at}.type`, `a ${JSON.stringify(p['type'])} content part`);
        return { type: 'text', text: `(${p['type']})` };
      }
      return badField(`${at}.type`, 'input_text, input_image, input_file, input_audio or output_text', p['type'], 'unsupported_content');
  }
}

/** Responses `input` (string or items) as chat messages. */
function inputToMessages(input: unknown, nativeOnly: NativeOnly | undefined, out: ChatMessage[], from: number[]): void {
  if (typeof input === 'string') {
    if (input === '') throw new WireError('invalid_input', 'input', 'body.input must not be empty');
    out.push({ role: 'user', content: input });
    from.push(STRING_INPUT);
    return;
  }
  if (!Array.isArray(input)) badField('input', 'a string or an array of input items', input);
  if (input.length === 0) throw new WireError('invalid_input', 'input', 'body.input must not be an empty array');
  // function_call items join the assistant turn they follow (or start one): chat keeps tool calls on the assistant message.
  let assistant: ChatMessage | null = null;
  // Images and files of the tool outputs just read, for the user message after them (TOOL_MEDIA_NOTE).
  let media: ContentPart[] = [];
  let mediaFrom = 0;
  const flushMedia = (): void => {
    if (media.length > 0) {
      out.push({ role: 'user', content: media });
      from.push(toolOutputAt(mediaFrom));
    }
    media = [];
  };
  for (let i = 0; i < input.length; i++) {
    const item = input[i] as unknown;
    const path = `input[${i}]`;
    if (!isObject(item)) badField(path, 'an input item object', item);
    const type = item['type'] ?? (item['role'] !== undefined ? 'message' : undefined);
    if (type === 'message' || type === 'function_call') flushMedia();
    switch (type) {
      case 'message': {
        const role = item['role'];
        if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') badField(`${path}.role`, '"user", "assistant", "system" or "developer"', role);
        const content = contentParts(item['content'], `${path}.content`, nativeOnly);
        if (role === 'assistant') {
          const msg: ChatMessage = { role: 'assistant', content: partsText(content) };
          out.push(msg);
          from.push(i);
          assistant = msg;
        } else {
          // System prompts as plain strings: every OpenAI-compatible server takes those.
          out.push({ role: role === 'user' ? 'user' : 'system', content: role === 'user' ? content : partsText(content) });
          from.push(i);
          assistant = null;
        }
        break;
      }
      case 'function_call': {
        const callId = item['call_id'];
        const name = item['name'];
        const args = item['arguments'];
        if (typeof callId !== 'string' || callId === '') badField(`${path}.call_id`, 'a non-empty string', callId);
        if (typeof name !== 'string' || name === '') badField(`${path}.name`, 'a non-empty string', name);
        if (typeof args !== 'string') badField(`${path}.arguments`, 'a string of JSON', args);
        if (!assistant) {
          assistant = { role: 'assistant', content: null };
          out.push(assistant);
          from.push(i);
        }
        assistant.tool_calls ??= [];
        assistant.tool_calls.push({ id: callId, type: 'function', function: { name, arguments: args } });
        break;
      }
      case 'function_call_output': {
        const callId = item['call_id'];
        if (typeof callId !== 'string' || callId === '') badField(`${path}.call_id`, 'a non-empty string', callId);
        const output = item['output'];
        let text = '';
        if (typeof output === 'string') text = output;
        else if (!Array.isArray(output)) badField(`${path}.output`, 'a string or an array of content parts', output);
        else {
          for (let k = 0; k < output.length; k++) {
            const part = contentPart(output[k], `${path}.output[${k}]`, nativeOnly);
            if (part.type === 'text' || part.type === 'refusal') text += partsText([part]);
            else {
              text += TOOL_MEDIA_NOTE;
              media.push(part);
              mediaFrom = i;
            }
          }
        }
        out.push({ role: 'tool', tool_call_id: callId, content: text });
        from.push(toolOutputAt(i));
        assistant = null;
        break;
      }
      case 'reasoning':
        // Reasoning state belongs to the model that produced it; chat upstreams take none back.
        break;
      case 'item_reference':
        // The references to items the gateway kept (src/serve/stored-items.ts) were replaced before this:
        // what is left is an item OpenAI stores, or one the gateway no longer holds (or never saw).
        if (nativeOnly) nativeOnly(`${path}.type`, `an item_reference to ${JSON.stringify(item['id'])}, an item this gateway does not hold: the items routecore writes are kept for an hour, in Redis with --redis, else in the process that wrote them (with --workers N and no --redis, another worker may have); send the item itself, or store: false`);
        else throw new WireError('unsupported_parameter', `${path}.type`, `body.${path} is an item_reference: routecore stores no items; send the item itself`);
        break;
      default:
        if (nativeOnly && typeof type === 'string') {
          nativeOnly(`${path}.type`, `a ${JSON.stringify(type)} input item`);
          break;
        }
        badField(`${path}.type`, '"message", "function_call", "function_call_output" or "reasoning"', type, 'unsupported_input_item');
    }
  }
  flushMedia();
}

/** {@link clientField} positions that are not an item's index. */
const INSTRUCTIONS = -1;
const STRING_INPUT = -2;
/** A message made of item `i`'s `output` (a function_call_output: its tool turn, its images and files). */
const toolOutputAt = (i: number): number => -3 - i;

/** The client's field of a translated message's content (positions as {@link inputToMessages} records them). */
function clientField(at: number): string {
  if (at === INSTRUCTIONS) return 'instructions';
  if (at === STRING_INPUT) return 'input';
  return at >= 0 ? `input[${at}].content` : `input[${-3 - at}].output`;
}

/** The Responses `usage` for a chat usage. */
function usageObject(u: ReturnType<typeof chatUsage>): Json | null {
  if (!u) return null;
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: u.prompt_tokens + u.completion_tokens,
  };
}

/** The parts of a `response` object every answer (streamed or not) carries, echoing the request. */
function responseShell(request: Json, id: string, createdAt: number, model: string): Json {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request['instructions'] ?? null,
    max_output_tokens: request['max_output_tokens'] ?? null,
    model,
    output: [],
    parallel_tool_calls: request['parallel_tool_calls'] ?? true,
    previous_response_id: null,
    reasoning: request['reasoning'] ?? null,
    store: false,
    temperature: request['temperature'] ?? null,
    text: request['text'] ?? { format: { type: 'text' } },
    tool_choice: request['tool_choice'] ?? 'auto',
    tools: request['tools'] ?? [],
    top_p: request['top_p'] ?? null,
    truncation: request['truncation'] ?? 'disabled',
    usage: null,
    user: request['user'] ?? null,
    metadata: request['metadata'] ?? {},
  };
}

/** `finish_reason` → the response's status and `incomplete_details`. */
function ending(finish: string | null): { status: 'completed' | 'incomplete'; incomplete: Json | null } {
  if (finish === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

function messageItem(id: string, text: string, status: string, refusal = false): Json {
  return { id, type: 'message', status, role: 'assistant', content: text === '' && status === 'in_progress' ? [] : [refusal ? { type: 'refusal', refusal: text } : outputText(text)] };
}

function outputText(text: string): Json {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** Options of {@link chatToResponse} and {@link ResponsesStreamWriter}. */
export interface ResponseMeta {
  /** The response id; default a new `resp_…`. */
  id?: string;
  /** The model name to report (the registry id that answered). */
  model: string;
  /** Unix seconds; default now. */
  createdAt?: number;
}

/** A `chat.completion` as a Responses `response` object for the request it answers. */
export function chatToResponse(completion: Json, request: Json, meta: ResponseMeta): Json {
  const res = responseShell(request, meta.id ?? wireId('resp_'), meta.createdAt ?? Math.floor(Date.now() / 1000), meta.model);
  const choice = firstChoice(completion);
  const message = (isObject(choice?.['message']) ? choice['message'] : {}) as Json;
  const output: Json[] = [];
  const content = message['content'];
  const text = typeof content === 'string' ? content : Array.isArray(content) ? partsText(content as ContentPart[]) : '';
  const refusal = typeof message['refusal'] === 'string' ? message['refusal'] : '';
  if (text !== '' || refusal !== '') {
    const item = messageItem(wireId('msg_'), text, 'completed');
    if (refusal !== '') (item['content'] as Json[]).push({ type: 'refusal', refusal });
    if (text === '') (item['content'] as Json[]).shift();
    output.push(item);
  }
  const calls = Array.isArray(message['tool_calls']) ? message['tool_calls'] : [];
  for (const c of calls) {
    if (!isObject(c)) continue;
    const fn = isObject(c['function']) ? c['function'] : {};
    output.push({
      id: wireId('fc_'),
      type: 'function_call',
      status: 'completed',
      call_id: typeof c['id'] === 'string' ? c['id'] : wireId('call_'),
      name: typeof fn['name'] === 'string' ? fn['name'] : '',
      arguments: typeof fn['arguments'] === 'string' ? fn['arguments'] : '{}',
    });
  }
  const { status, incomplete } = ending(typeof choice?.['finish_reason'] === 'string' ? choice['finish_reason'] : null);
  res['status'] = status;
  res['incomplete_details'] = incomplete;
  res['output'] = output;
  res['usage'] = usageObject(chatUsage(completion['usage']));
  return res;
}

/**
 * The ids of the `item_reference` items of a Responses body's `input`, in order (none for a string
 * input). A client that keeps a conversation the way OpenAI stores it (the AI SDK's default
 * `store: true`) sends the items of earlier answers back as these references.
 */
export function itemReferences(body: unknown): string[] {
  const input = isObject(body) ? body['input'] : undefined;
  if (!Array.isArray(input)) return [];
  const ids: string[] = [];
  for (const item of input) if (isObject(item) && item['type'] === 'item_reference' && typeof item['id'] === 'string') ids.push(item['id']);
  return ids;
}

/**
 * `body` with each `item_reference` whose item `found` holds replaced by that item without its id (a
 * copy; `body` is left as it was): an upstream of OpenAI's own wire may check the ids of items it is
 * sent against those it stored, and routecore's are not among them.
 */
export function withReferencedItems(body: Json, found: ReadonlyMap<string, Json>): Json {
  const input = body['input'] as unknown[];
  return {
    ...body,
    input: input.map((item) => {
      const kept = isObject(item) && item['type'] === 'item_reference' && typeof item['id'] === 'string' ? found.get(item['id']) : undefined;
      if (kept === undefined) return item;
      const { id: _id, ...rest } = kept;
      return rest;
    }),
  };
}

/** An open output item of a streamed response. */
interface OpenItem {
  index: number;
  id: string;
  kind: 'message' | 'function_call';
  /** A message's one content part: `output_text`, or `refusal` (a model's refusal streams as its own part). */
  refusal: boolean;
  text: string;
  callId: string;
  name: string;
  done: boolean;
}

/**
 * Turns a stream of `chat.completion.chunk`s into Responses stream events (SSE text). Call
 * {@link start} once, {@link chunk} per upstream chunk, then {@link finish} (or {@link fail}).
 * Output items are sequential, as OpenAI sends them: an item is closed (`…done` events) when the
 * next one begins.
 */
export class ResponsesStreamWriter {
  readonly #request: Json;
  readonly #response: Json;
  #seq = 0;
  readonly #items: OpenItem[] = [];
  #text: OpenItem | null = null;
  #refusal: OpenItem | null = null;
  readonly #tools = new Map<number, OpenItem>();
  /** Items opened and not yet done, in output order. */
  #openItems: OpenItem[] = [];
  #finish: string | null = null;
  #usage: ReturnType<typeof chatUsage> = null;

  constructor(request: Json, meta: ResponseMeta) {
    this.#request = request;
    this.#response = responseShell(request, meta.id ?? wireId('resp_'), meta.createdAt ?? Math.floor(Date.now() / 1000), meta.model);
  }

  /** The response id. */
  get id(): string {
    return this.#response['id'] as string;
  }

  #event(type: string, fields: Json): string {
    return sseEvent(type, { type, sequence_number: this.#seq++, ...fields });
  }

  /** `response.created` and `response.in_progress`. */
  start(): string {
    const snapshot = { ...this.#response };
    return this.#event('response.created', { response: snapshot }) + this.#event('response.in_progress', { response: snapshot });
  }

  #open(kind: OpenItem['kind'], callId = '', name = '', refusal = false): { item: OpenItem; events: string } {
    // Text after tool calls closes them; a tool call closes the text before it but not the other
    // calls: an upstream may interleave the argument deltas of parallel calls (index 0, 1, 0, ...),
    // and a call's `output_item.done` must carry all of its arguments.
    let events = this.#close(kind === 'message' ? () => true : (open) => open.kind === 'message');
    const item: OpenItem = { index: this.#items.length, id: wireId(kind === 'message' ? 'msg_' : 'fc_'), kind, refusal, text: '', callId, name, done: false };
    this.#items.push(item);
    this.#openItems.push(item);
    if (kind === 'message') {
      events += this.#event('response.output_item.added', { output_index: item.index, item: messageItem(item.id, '', 'in_progress') });
      events += this.#event('response.content_part.added', { item_id: item.id, output_index: item.index, content_index: 0, part: refusal ? { type: 'refusal', refusal: '' } : outputText('') });
    } else {
      events += this.#event('response.output_item.added', { output_index: item.index, item: this.#callItem(item, 'in_progress') });
    }
    return { item, events };
  }

  #callItem(item: OpenItem, status: string): Json {
    return { id: item.id, type: 'function_call', status, call_id: item.callId, name: item.name, arguments: item.text };
  }

  /** Closes the open items `which` picks (all by default), in output order. */
  #close(which: (item: OpenItem) => boolean = () => true): string {
    let events = '';
    const still: OpenItem[] = [];
    for (const item of this.#openItems) {
      if (which(item)) events += this.#done(item);
      else still.push(item);
    }
    this.#openItems = still;
    return events;
  }

  #done(item: OpenItem): string {
    if (item.done) return '';
    item.done = true;
    if (item.kind === 'message' && item.refusal) {
      return (
        this.#event('response.refusal.done', { item_id: item.id, output_index: item.index, content_index: 0, refusal: item.text }) +
        this.#event('response.content_part.done', { item_id: item.id, output_index: item.index, content_index: 0, part: { type: 'refusal', refusal: item.text } }) +
        this.#event('response.output_item.done', { output_index: item.index, item: messageItem(item.id, item.text, 'completed', true) })
      );
    }
    if (item.kind === 'message') {
      return (
        this.#event('response.output_text.done', { item_id: item.id, output_index: item.index, content_index: 0, text: item.text, logprobs: [] }) +
        this.#event('response.content_part.done', { item_id: item.id, output_index: item.index, content_index: 0, part: outputText(item.text) }) +
        this.#event('response.output_item.done', { output_index: item.index, item: messageItem(item.id, item.text, 'completed') })
      );
    }
    return (
      this.#event('response.function_call_arguments.done', { item_id: item.id, output_index: item.index, name: item.name, arguments: item.text }) +
      this.#event('response.output_item.done', { output_index: item.index, item: this.#callItem(item, 'completed') })
    );
  }

  /** The events for one `chat.completion.chunk` (possibly none). */
  chunk(chunk: Json): string {
    let events = '';
    const u = chatUsage(chunk['usage']);
    if (u) this.#usage = u;
    const choice = firstChoice(chunk);
    if (!choice) return events;
    const { delta, piece } = chunkDelta(choice);
    if (typeof delta['refusal'] === 'string' && delta['refusal'] !== '') {
      // A refusal is its own content part with its own events, as OpenAI streams it.
      if (!this.#refusal || this.#refusal.done) {
        const opened = this.#open('message', '', '', true);
        this.#refusal = opened.item;
        events += opened.events;
      }
      const item = this.#refusal;
      item.text += delta['refusal'];
      events += this.#event('response.refusal.delta', { item_id: item.id, output_index: item.index, content_index: 0, delta: delta['refusal'] });
    } else if (piece !== '') {
      if (!this.#text || this.#text.done) {
        const opened = this.#open('message');
        this.#text = opened.item;
        events += opened.events;
      }
      const item = this.#text;
      item.text += piece;
      events += this.#event('response.output_text.delta', { item_id: item.id, output_index: item.index, content_index: 0, delta: piece, logprobs: [] });
    }
    if (Array.isArray(delta['tool_calls'])) {
      for (const tc of delta['tool_calls']) {
        if (!isObject(tc)) continue;
        const idx = typeof tc['index'] === 'number' ? tc['index'] : 0;
        const fn = isObject(tc['function']) ? tc['function'] : {};
        let item = this.#tools.get(idx);
        if (!item) {
          const opened = this.#open('function_call', typeof tc['id'] === 'string' ? tc['id'] : wireId('call_'), typeof fn['name'] === 'string' ? fn['name'] : '');
          item = opened.item;
          this.#tools.set(idx, item);
          events += opened.events;
        } else if (typeof fn['name'] === 'string' && item.name === '') {
          item.name = fn['name'];
        }
        if (typeof fn['arguments'] === 'string' && fn['arguments'] !== '') {
          item.text += fn['arguments'];
          events += this.#event('response.function_call_arguments.delta', { item_id: item.id, output_index: item.index, delta: fn['arguments'] });
        }
      }
    }
    if (typeof choice['finish_reason'] === 'string') this.#finish = choice['finish_reason'];
    return events;
  }

  /** Closes the open item and sends `response.completed` (or `response.incomplete` after a length or filter stop). */
  finish(): string {
    let events = this.#close();
    const { status, incomplete } = ending(this.#finish);
    const res: Json = { ...this.#response, status, incomplete_details: incomplete, usage: usageObject(this.#usage) };
    res['output'] = this.output;
    events += this.#event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: res });
    return events;
  }

  /** The output items written so far, as `response.completed` lists them. */
  get output(): Json[] {
    return this.#items.map((it) => (it.kind === 'message' ? messageItem(it.id, it.text, 'completed', it.refusal) : this.#callItem(it, 'completed')));
  }

  /** An `error` event (the OpenAI SDK raises it as an APIError) after a failure mid-stream. */
  fail(message: string, code: string): string {
    return this.#event('error', { code, message, param: null });
  }

  /** The request this writer answers (for tests and logs). */
  get request(): Json {
    return this.#request;
  }
}

/** Chat usage from a Responses `response` object's usage (for cost), or null. */
export function responsesUsage(response: unknown): { prompt_tokens: number; completion_tokens: number } | null {
  if (!isObject(response)) return null;
  const u = response['usage'];
  if (!isObject(u) || typeof u['input_tokens'] !== 'number' || typeof u['output_tokens'] !== 'number') return null;
  return { prompt_tokens: u['input_tokens'], completion_tokens: u['output_tokens'] };
}

/** What one event of an upstream's own Responses stream means to the attempt runner. */
export interface ResponsesEventInfo {
  /** Generated output (text, tool arguments, a new output item): the answer has begun. */
  token: boolean;
  /** The terminal success event (`response.completed` / `response.incomplete`). */
  done: boolean;
  /** Usage from the terminal event. */
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** A failure the upstream reported in the stream (`error`, `response.failed`). */
  failed: string | null;
}

/** Reads one passed-through Responses stream event. */
export function responsesEventInfo(event: Json): ResponsesEventInfo {
  const type = event['type'];
  const info: ResponsesEventInfo = { token: false, done: false, usage: null, failed: null };
  if (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta' || type === 'response.refusal.delta' || type === 'response.output_item.added') info.token = true;
  else if (type === 'response.completed' || type === 'response.incomplete') {
    info.done = true;
    info.token = true;
    info.usage = responsesUsage(event['response']);
  } else if (type === 'error') info.failed = typeof event['message'] === 'string' ? event['message'] : 'the upstream sent an error event';
  else if (type === 'response.failed') {
    const err = (event['response'] as Json | undefined)?.['error'];
    info.failed = isObject(err) && typeof err['message'] === 'string' ? err['message'] : 'the upstream reported response.failed';
  }
  return info;
}
