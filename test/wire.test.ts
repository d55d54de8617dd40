/**
 * The wire translations (src/wire) as pure functions: OpenAI Responses <-> chat completions and
 * Anthropic Messages <-> chat completions, requests, answers and streams, and every refusal's message.
 */
import { describe, expect, it } from 'vitest';

import { sseData } from '../src/execution/sse.js';
import { streamError, usageOf } from '../src/execution/openai-upstream.js';
import {
  AnthropicChunkReader,
  MessagesStreamWriter,
  ResponsesStreamWriter,
  WireError,
  anthropicUsage,
  chatToMessage,
  chatToMessages,
  chatToResponse,
  messageToChat,
  messagesToChat,
  responsesEventInfo,
  responsesToChat,
  type Json,
} from '../src/wire/index.js';
import { caught } from './helpers/index.js';

/** Parses SSE text into [event name, data] pairs. */
function events(text: string): [string | null, Json][] {
  const out: [string | null, Json][] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let name: string | null = null;
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    out.push([name, JSON.parse(data) as Json]);
  }
  return out;
}


const completion = (message: Json, finish = 'stop', usage: Json = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'x',
  choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
  usage,
});

describe('Responses -> chat request', () => {
  it('takes a string input and instructions', () => {
    const chat = responsesToChat({ model: 'routecore', input: 'Hi there', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, stream: true });
    expect(chat).toEqual({
      model: 'routecore',
      stream: true,
      temperature: 0.2,
      max_completion_tokens: 50,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi there' },
      ],
    });
  });

  it('takes items: messages with parts, function calls joined to the assistant turn, their outputs as tool turns', () => {
    const chat = responsesToChat({
      input: [
        { role: 'developer', content: 'Rules.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me look.' }] },
        { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'call_2', name: 'time', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: '18C' },
        { type: 'function_call_output', call_id: 'call_2', output: '10:00' },
      ],
      tools: [{ type: 'function', name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true }],
      tool_choice: { type: 'function', name: 'weather' },
      text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' }, strict: true } },
      reasoning: { effort: 'low' },
    });
    expect(chat.messages).toEqual([
      { role: 'system', content: 'Rules.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: '10:00' },
    ]);
    expect(chat['tools']).toEqual([{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } }]);
    expect(chat['tool_choice']).toEqual({ type: 'function', function: { name: 'weather' } });
    expect(chat['response_format']).toEqual({ type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' }, strict: true } });
    expect(chat['reasoning_effort']).toBe('low');
  });

  it('keeps a request with a file by URL to upstreams of OpenAI\'s own wire (chat completions has no such part)', () => {
    const reported: string[] = [];
    const chat = responsesToChat({ input: [{ role: 'user', content: [{ type: 'input_text', text: 'Summarise' }, { type: 'input_file', file_url: 'https://example.com/a.pdf' }] }] }, (param) => reported.push(param));
    expect(reported).toEqual(['input[0].content[1].file_url']);
    expect(chat.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Summarise' }, { type: 'text', text: '(a file)' }] }]);
  });

  it('puts the images and files of tool outputs in a user turn after the run of tool turns (a chat tool turn takes text only)', () => {
    const chat = responsesToChat({
      input: [
        { role: 'user', content: 'Screens of both?' },
        { type: 'function_call', call_id: 'call_1', name: 'shot', arguments: '{}' },
        { type: 'function_call', call_id: 'call_2', name: 'shot', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'first: ' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_image', image_url: 'https://example.com/b.png' }] },
        { role: 'user', content: 'Compare them.' },
      ],
    });
    expect(chat.messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_1', content: 'first: (attached below)' },
      { role: 'tool', tool_call_id: 'call_2', content: '(attached below)' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }, { type: 'image_url', image_url: { url: 'https://example.com/b.png' } }] },
      { role: 'user', content: 'Compare them.' },
    ]);
  });

  it.each([
    [[], null, 'the request body must be a JSON object'],
    [{ model: 'routecore' }, 'input', 'body.input is required'],
    [{ input: '' }, 'input', 'body.input must not be empty'],
    [{ input: [] }, 'input', 'must not be an empty array'],
    [{ input: 42 }, 'input', 'body.input must be a string or an array of input items, got number 42'],
    [{ input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id', 'routecore stores no responses'],
    [{ input: 'x', conversation: 'conv_1' }, 'conversation', 'routecore stores no conversations'],
    [{ input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', 'only "function" tools are supported'],
    [{ input: 'x', tools: [{ type: 'function' }] }, 'tools[0].name', 'body.tools[0].name must be a non-empty string'],
    [{ input: 'x', temperature: 3 }, 'temperature', 'body.temperature must be a number from 0 to 2, got number 3'],
    [{ input: 'x', max_output_tokens: 0 }, 'max_output_tokens', 'body.max_output_tokens must be an integer from 1'],
    [{ input: 'x', stream: 'yes' }, 'stream', 'body.stream must be true or false'],
    [{ input: 'x', tool_choice: 'sometimes' }, 'tool_choice', 'body.tool_choice must be'],
    [{ input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type', 'body.text.format.type must be'],
    [{ input: 'x', frobnicate: 1 }, 'frobnicate', 'body.frobnicate is not a Responses API parameter'],
    [{ input: [{ role: 'robot', content: 'x' }] }, 'input[0].role', 'body.input[0].role must be'],
    [{ input: [{ role: 'user', content: [{ type: 'input_video' }] }] }, 'input[0].content[0].type', 'body.input[0].content[0].type must be'],
    [{ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }, 'input[0].content[0].image_url', 'file_id images'],
    [{ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id', 'body.input[0].call_id must be a non-empty string'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type', 'item_reference'],
    [{ input: [{ role: 'assistant', content: 'only me' }] }, 'input', 'at least one user message'],
    // A file with neither data nor an id (a name alone) is no file; a file by URL is OpenAI's own (below).
    [{ input: [{ role: 'user', content: [{ type: 'input_file', filename: 'a.pdf' }] }] }, 'input[0].content[0]', 'an input_file with file_data, file_id or file_url'],
    [{ input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }] }] }, 'input[0].content[0]', 'an input_file with file_data, file_id or file_url'],
  ])('refuses %j (param %s)', (body, param, message) => {
    const e = caught(() => responsesToChat(body), WireError);
    expect(e.param).toBe(param);
    expect(e.message).toContain(message);
    expect(e.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
  });
});

describe('chat answer -> Responses', () => {
  it('makes a message item and usage, echoing the request', () => {
    const res = chatToResponse(completion({ content: 'Hello.' }), { input: 'x', instructions: 'I', max_output_tokens: 9 }, { model: 'big', id: 'resp_1', createdAt: 5 });
    expect(res).toMatchObject({
      id: 'resp_1',
      object: 'response',
      created_at: 5,
      status: 'completed',
      model: 'big',
      instructions: 'I',
      max_output_tokens: 9,
      incomplete_details: null,
      usage: { input_tokens: 11, output_tokens: 7, total_tokens: 18, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    });
    expect(res['output']).toEqual([{ id: expect.stringMatching(/^msg_/), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello.', annotations: [], logprobs: [] }] }]);
  });

  it('makes function_call items and marks a length stop incomplete', () => {
    const res = chatToResponse(completion({ content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, 'length'), { input: 'x' }, { model: 'm' });
    expect(res['status']).toBe('incomplete');
    expect(res['incomplete_details']).toEqual({ reason: 'max_output_tokens' });
    expect(res['output']).toEqual([{ id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'call_9', name: 'f', arguments: '{"a":1}' }]);
  });

  it('streams text then a tool call as Responses events with rising sequence numbers', () => {
    const w = new ResponsesStreamWriter({ input: 'x' }, { model: 'big', id: 'resp_s' });
    let text = w.start();
    const chunk = (delta: Json, finish: string | null = null, usage?: Json) => ({ object: 'chat.completion.chunk', choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) });
    text += w.chunk(chunk({ role: 'assistant', content: '' }));
    text += w.chunk(chunk({ content: 'Hel' }));
    text += w.chunk(chunk({ content: 'lo' }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }));
    text += w.chunk(chunk({}, 'tool_calls'));
    text += w.chunk(chunk({}, null, { prompt_tokens: 3, completion_tokens: 4 }));
    text += w.finish();
    const ev = events(text);
    expect(ev.map(([name]) => name)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(ev.map(([, d]) => d['sequence_number'])).toEqual(ev.map((_, i) => i));
    for (const [name, d] of ev) expect(d['type']).toBe(name);
    const done = ev.at(-1)![1]['response'] as Json;
    expect(done['status']).toBe('completed');
    expect(done['usage']).toMatchObject({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
    expect(done['output']).toEqual([
      expect.objectContaining({ type: 'message', content: [expect.objectContaining({ text: 'Hello' })] }),
      expect.objectContaining({ type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{"a":1}' }),
    ]);
    expect(events(w.fail('broken', 'stream_interrupted'))[0]).toEqual(['error', expect.objectContaining({ type: 'error', code: 'stream_interrupted', message: 'broken' })]);
  });

  it('keeps parallel tool calls open while their argument deltas interleave, so each output_item.done carries its whole arguments', () => {
    const w = new ResponsesStreamWriter({ input: 'x' }, { model: 'big', id: 'resp_p' });
    let text = w.start();
    const chunk = (delta: Json, finish: string | null = null) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
    text += w.chunk(chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{"y":' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":1}' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 1, function: { arguments: '2}' } }] }));
    text += w.chunk(chunk({}, 'tool_calls'));
    text += w.finish();
    const ev = events(text);
    const itemDone = ev.filter(([name]) => name === 'response.output_item.done').map(([, d]) => d['item'] as Json);
    expect(itemDone).toEqual([expect.objectContaining({ call_id: 'call_a', arguments: '{"x":1}' }), expect.objectContaining({ call_id: 'call_b', arguments: '{"y":2}' })]);
    // No delta for an item after its done event.
    const doneAt = new Map(ev.flatMap(([name, d], i) => (name === 'response.output_item.done' ? [[(d['item'] as Json)['id'], i] as const] : [])));
    for (const [i, [name, d]] of ev.entries()) if (name === 'response.function_call_arguments.delta') expect(i).toBeLessThan(doneAt.get(d['item_id'] as string)!);
  });

  it('streams a refusal as its own content part with refusal events, as the answer read whole has it', () => {
    const w = new ResponsesStreamWriter({ input: 'x' }, { model: 'big', id: 'resp_r' });
    let text = w.start();
    const chunk = (delta: Json, finish: string | null = null) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
    text += w.chunk(chunk({ role: 'assistant', refusal: '' }));
    text += w.chunk(chunk({ refusal: 'I cannot ' }));
    text += w.chunk(chunk({ refusal: 'help with that.' }));
    text += w.chunk(chunk({}, 'stop'));
    text += w.finish();
    const ev = events(text);
    expect(ev.map(([name]) => name)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const done = ev.at(-1)![1]['response'] as Json;
    expect(done['output']).toEqual([expect.objectContaining({ type: 'message', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] })]);
  });

  it('reads passed-through Responses events for the attempt runner', () => {
    expect(responsesEventInfo({ type: 'response.created' })).toMatchObject({ token: false, done: false });
    expect(responsesEventInfo({ type: 'response.output_text.delta', delta: 'x' })).toMatchObject({ token: true });
    expect(responsesEventInfo({ type: 'response.completed', response: { usage: { input_tokens: 2, output_tokens: 5 } } })).toEqual({ token: true, done: true, usage: { prompt_tokens: 2, completion_tokens: 5 }, failed: null });
    expect(responsesEventInfo({ type: 'response.failed', response: { error: { message: 'boom' } } }).failed).toBe('boom');
    expect(responsesEventInfo({ type: 'error', message: 'bad' }).failed).toBe('bad');
  });
});

describe('an OpenAI-compatible stream\'s error event', () => {
  it('is read for the failure\'s message, in either shape; any other event is not one', () => {
    expect(streamError('{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}')).toBe('server_error: The server had an error while processing your request.');
    expect(streamError('{"error":{"message":"overloaded","code":"overloaded"}}')).toBe('overloaded: overloaded');
    expect(streamError('{"error":"bad gateway"}')).toBe('bad gateway');
    expect(streamError('{"choices":[]}')).toBeUndefined();
    expect(streamError('not json')).toBeUndefined();
  });
});

describe('Messages -> chat request (face)', () => {
  it('lifts system, keeps blocks, turns tool_use into tool_calls and tool_result into tool turns', () => {
    const chat = messagesToChat({
      model: 'routecore',
      max_tokens: 100,
      system: [{ type: 'text', text: 'You are terse.' }],
      stop_sequences: ['END'],
      metadata: { user_id: 'u1' },
      tools: [{ name: 'weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: '...', signature: 's' }, { type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }] }, { type: 'text', text: 'And tomorrow?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'weather', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'no data', is_error: true }] },
      ],
    });
    expect(chat.messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
      { role: 'user', content: 'And tomorrow?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: no data' },
    ]);
    expect(chat).toMatchObject({
      model: 'routecore',
      max_completion_tokens: 100,
      stop: ['END'],
      user: 'u1',
      tool_choice: 'required',
      parallel_tool_calls: false,
      tools: [{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
  });

  it('keeps every kind of tool_result content: text, text documents and search results in the tool turn, images and PDFs in the user turn after it', () => {
    const png = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } };
    const chat = messagesToChat({
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'Look these up.' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'shot', input: {} }, { type: 'tool_use', id: 'toolu_2', name: 'search', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'a screenshot ' }, png, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: ' and its notes' } }] },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'search_result', source: 'https://example.com/a', title: 'Result A', content: [{ type: 'text', text: 'Paris is sunny.' }] }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } }] },
            { type: 'text', text: 'What do you see?' },
          ],
        },
      ],
    });
    expect(chat.messages.slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'toolu_1', content: 'a screenshot (attached below) and its notes' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Result A — https://example.com/a\nParis is sunny.(attached below)' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'document.pdf' } },
          { type: 'text', text: 'What do you see?' },
        ],
      },
    ]);
    // A block type a chat model cannot read keeps the request to Anthropic models (the face), or is refused by name.
    const body = { max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'container_upload', file_id: 'f' }] }] }] };
    const reported: string[] = [];
    messagesToChat(body, (param) => reported.push(param));
    expect(reported).toEqual(['messages[0].content[0].content[0].type']);
    expect(caught(() => messagesToChat(body))).toMatchObject({ param: 'messages[0].content[0].content[0].type' });
  });

  it.each([
    ['x', null, 'the request body must be a JSON object'],
    [{ messages: [{ role: 'user', content: 'x' }] }, 'max_tokens', 'body.max_tokens: Field required'],
    [{ max_tokens: null, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens', 'body.max_tokens: Field required'],
    [{ max_tokens: 10 }, 'messages', 'body.messages: Field required'],
    [{ max_tokens: 10, messages: [] }, 'messages', 'body.messages must be a non-empty array'],
    [{ max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens', 'body.max_tokens must be an integer from 1'],
    [{ max_tokens: 10, messages: [{ role: 'system', content: 'x' }] }, 'messages[0].role', 'body.messages[0].role must be "user" or "assistant"'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', 'must be a string or an array of content blocks'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'video' }] }] }, 'messages[0].content[0].type', 'body.messages[0].content[0].type must be'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result' }] }] }, 'messages[0].content[0].tool_use_id', 'the id of a tool_use block'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], temperature: 1.5 }, 'temperature', 'body.temperature must be a number from 0 to 1, got number 1.5'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type', "Anthropic's server tools"],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 't' }] }, 'tools[0].input_schema', 'a JSON schema object'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'maybe' } }, 'tool_choice.type', 'body.tool_choice.type must be'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], foo: 1 }, 'foo', 'Extra inputs are not permitted'],
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], system: 7 }, 'system', 'body.system must be a string or an array of text blocks'],
    [{ max_tokens: 2000, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 2000 } }, 'thinking.budget_tokens', 'fewer tokens than max_tokens (2000)'],
    [{ max_tokens: 9000, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 100 } }, 'thinking.budget_tokens', 'body.thinking.budget_tokens must be an integer from 1024'],
  ])('refuses %j (param %s)', (body, param, message) => {
    const e = caught(() => messagesToChat(body), WireError);
    expect(e.param).toBe(param);
    expect(e.message).toContain(message);
  });
});

describe('Messages -> chat request (face): tool_choice without tools', () => {
  it('validates tool_choice and disable_parallel_tool_use without tools but sends neither (chat completions refuses them)', () => {
    const chat = messagesToChat({ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'auto', disable_parallel_tool_use: true } });
    expect(chat['tool_choice']).toBeUndefined();
    expect(chat['parallel_tool_calls']).toBeUndefined();
    const withTools = messagesToChat({ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'any', disable_parallel_tool_use: true } });
    expect(withTools).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false });
    expect(caught(() => messagesToChat({ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'maybe' } }), WireError).param).toBe('tool_choice.type');
  });
});

describe('Messages -> chat request (face): what is not translated', () => {
  it('validates thinking but sends chat upstreams no reasoning_effort (a model that does not reason would refuse it with a 400)', () => {
    const chat = messagesToChat({ max_tokens: 9000, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 4000 } });
    expect(chat['reasoning_effort']).toBeUndefined();
    expect(messagesToChat({ max_tokens: 10, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'adaptive' } })['reasoning_effort']).toBeUndefined();
  });
});

describe('Responses -> chat request: the echoed fields are checked', () => {
  it.each([
    [{ input: 'x', metadata: { a: 1 } }, 'metadata.a', 'body.metadata.a must be a string of at most 512 characters, got number 1'],
    [{ input: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'body.metadata has 17 key-value pairs; at most 16 are allowed'],
    [{ input: 'x', store: 'yes' }, 'store', 'body.store must be true or false, got string "yes"'],
    [{ input: 'x', include: 'reasoning.encrypted_content' }, 'include', 'body.include must be an array of strings'],
    [{ input: 'x', truncation: 'sometimes' }, 'truncation', 'body.truncation must be "auto" or "disabled", got string "sometimes"'],
  ])('refuses %j (param %s)', (body, param, message) => {
    const e = caught(() => responsesToChat(body), WireError);
    expect(e.param).toBe(param);
    expect(e.message).toContain(message);
  });
});

describe('Responses -> chat request: tool fields without tools', () => {
  it('drops tool_choice and parallel_tool_calls when there are no tools (chat completions refuses them; Responses takes them)', () => {
    const chat = responsesToChat({ input: 'hi', tool_choice: 'auto', parallel_tool_calls: false, tools: [] });
    expect(chat['tool_choice']).toBeUndefined();
    expect(chat['parallel_tool_calls']).toBeUndefined();
    const withTools = responsesToChat({ input: 'hi', tool_choice: 'required', parallel_tool_calls: false, tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }] });
    expect(withTools).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false });
    // Still validated when dropped.
    expect(caught(() => responsesToChat({ input: 'hi', tool_choice: 'sometimes' }), WireError).param).toBe('tool_choice');
  });
});

describe('chat answer -> Messages (face)', () => {
  it('reports input_tokens without the cached ones (Anthropic adds them up; OpenAI includes them), streamed and not', () => {
    const completion = { choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 80 } } };
    expect(chatToMessage(completion, { model: 'gpt' })['usage']).toEqual({ input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 80, cache_creation_input_tokens: 0 });
    const w = new MessagesStreamWriter({ model: 'gpt' });
    let text = w.start();
    text += w.chunk({ choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'stop' }] });
    text += w.chunk({ choices: [], usage: completion.usage });
    text += w.finish();
    const delta = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Json).find((e) => e['type'] === 'message_delta')!;
    expect(delta['usage']).toEqual({ input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 80, cache_creation_input_tokens: 0 });
  });

  it('reads a context-window stop as length', () => {
    const chat = messageToChat({ type: 'message', content: [{ type: 'text', text: 'cut' }], stop_reason: 'model_context_window_exceeded', usage: { input_tokens: 1, output_tokens: 1 } }, 'claude');
    expect((chat['choices'] as Json[])[0]!['finish_reason']).toBe('length');
  });

  it('makes text and tool_use blocks, the stop reason and usage', () => {
    const m = chatToMessage(completion({ content: 'Let me check.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{"city":"Oslo"}' } }] }, 'tool_calls'), { model: 'big', id: 'msg_1' });
    expect(m).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'big',
      content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'call_1', name: 'w', input: { city: 'Oslo' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
    expect(chatToMessage(completion({ content: 'x' }, 'length'), { model: 'm' })['stop_reason']).toBe('max_tokens');
    expect(chatToMessage(completion({ content: 'x' }, 'content_filter'), { model: 'm' })['stop_reason']).toBe('refusal');
  });

  it('streams blocks with event names, tool arguments as input_json_delta, usage in message_delta', () => {
    const w = new MessagesStreamWriter({ model: 'big', id: 'msg_s' });
    const chunk = (delta: Json, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
    let text = w.start();
    text += w.chunk(chunk({ role: 'assistant', content: '' }));
    text += w.chunk(chunk({ content: 'Hi' }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'w', arguments: '{"a"' } }] }));
    text += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }));
    text += w.chunk(chunk({}, 'tool_calls'));
    text += w.chunk({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 6 } });
    text += w.finish();
    const ev = events(text);
    expect(ev.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    for (const [name, d] of ev) expect(d['type']).toBe(name);
    expect(ev[1]![1]).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    expect(ev[4]![1]).toEqual({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'w', input: {} } });
    expect(ev[5]![1]).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a"' } });
    expect(ev[8]![1]).toEqual({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 5, output_tokens: 6, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } });
    expect(events(w.fail('overloaded_error', 'busy'))).toEqual([['error', { type: 'error', error: { type: 'overloaded_error', message: 'busy' } }]]);
  });
});

/**
 * Checks that Messages stream events keep Anthropic's block order (one block open at a time: start,
 * its deltas, stop; indexes 0, 1, 2, ...) and returns the blocks as a client assembles them.
 */
function messagesBlocks(ev: [string | null, Json][]): Json[] {
  const blocks: Json[] = [];
  let open: number | null = null;
  for (const [name, d] of ev) {
    if (name === 'content_block_start') {
      expect(open).toBeNull();
      expect(d['index']).toBe(blocks.length);
      open = d['index'] as number;
      blocks.push({ ...(d['content_block'] as Json), json: '' });
    } else if (name === 'content_block_delta') {
      expect(d['index']).toBe(open);
      const delta = d['delta'] as Json;
      const b = blocks[open!]!;
      if (delta['type'] === 'text_delta') b['text'] = String(b['text']) + String(delta['text']);
      else b['json'] = String(b['json']) + String(delta['partial_json']);
    } else if (name === 'content_block_stop') {
      expect(d['index']).toBe(open);
      open = null;
    }
  }
  expect(open).toBeNull();
  return blocks.map(({ json, ...b }) => (b['type'] === 'tool_use' ? { ...b, input: JSON.parse(String(json) || '{}') as Json } : b));
}

describe('chat stream -> Messages stream (face): block order', () => {
  const chunk = (delta: Json, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
  const call = (index: number, args: string, id?: string) => ({ tool_calls: [{ index, ...(id ? { id, type: 'function' } : {}), function: { ...(id ? { name: id.slice(5) } : {}), arguments: args } }] });
  const write = (chunks: Json[]) => {
    const w = new MessagesStreamWriter({ model: 'gpt', id: 'msg_o' });
    let text = w.start();
    for (const c of chunks) text += w.chunk(c);
    return events(text + w.finish());
  };

  it('sends parallel tool calls whose argument deltas interleave one block after the other, each whole before its stop', () => {
    const ev = write([
      chunk(call(0, '', 'call_a')),
      chunk(call(1, '', 'call_b')),
      chunk(call(0, '{"x":')),
      chunk(call(1, '{"y":')),
      chunk(call(0, '1}')),
      chunk(call(1, '2}')),
      chunk({}, 'tool_calls'),
    ]);
    expect(messagesBlocks(ev)).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'a', input: { x: 1 } },
      { type: 'tool_use', id: 'call_b', name: 'b', input: { y: 2 } },
    ]);
    // b waited for a to be whole, then went on live: its arguments so far in one delta, the rest as they came.
    const deltas = ev.filter(([n]) => n === 'content_block_delta').map(([, d]) => [d['index'], (d['delta'] as Json)['partial_json']]);
    expect(deltas).toEqual([[0, '{"x":'], [0, '1}'], [1, '{"y":'], [1, '2}']]);
    expect(ev.at(-2)![1]).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'tool_use' } });
  });

  it('streams sequential parallel tool calls live, each closed when the next begins', () => {
    const w = new MessagesStreamWriter({ model: 'gpt' });
    const text = w.start() + w.chunk(chunk(call(0, '{"x":1}', 'call_a')));
    const second = events(w.chunk(chunk(call(1, '{"y":', 'call_b'))));
    expect(second.map(([n, d]) => [n, d['index']])).toEqual([['content_block_stop', 0], ['content_block_start', 1], ['content_block_delta', 1]]);
    const rest = w.chunk(chunk(call(1, '2}'))) + w.chunk(chunk({}, 'tool_calls')) + w.finish();
    expect(messagesBlocks([...events(text), ...second, ...events(rest)])).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'a', input: { x: 1 } },
      { type: 'tool_use', id: 'call_b', name: 'b', input: { y: 2 } },
    ]);
  });

  it('sends the waiting tool calls before text that follows, and at the finish when the open call never became whole', () => {
    // a (no arguments) is open when b begins; the text closes a and sends b whole before it. b's late
    // delta has no block left to go to (Anthropic sends none after a stop).
    const withText = write([chunk({ content: 'Hi' }), chunk(call(0, '', 'call_a')), chunk(call(1, '{"y":2}', 'call_b')), chunk({ content: 'more' }), chunk(call(1, ' ')), chunk({}, 'stop')]);
    expect(messagesBlocks(withText)).toEqual([
      { type: 'text', text: 'Hi' },
      { type: 'tool_use', id: 'call_a', name: 'a', input: {} },
      { type: 'tool_use', id: 'call_b', name: 'b', input: { y: 2 } },
      { type: 'text', text: 'more' },
    ]);
    const atFinish = write([chunk(call(0, '', 'call_a')), chunk(call(1, '{"y":', 'call_b')), chunk(call(2, '{"z":3}', 'call_c')), chunk(call(1, '2}')), chunk({}, 'tool_calls')]);
    expect(messagesBlocks(atFinish)).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'a', input: {} },
      { type: 'tool_use', id: 'call_b', name: 'b', input: { y: 2 } },
      { type: 'tool_use', id: 'call_c', name: 'c', input: { z: 3 } },
    ]);
  });

  it('puts the estimated input tokens in message_start and the counted ones in message_delta, with both cache fields', () => {
    const w = new MessagesStreamWriter({ model: 'gpt', inputTokens: 42 });
    const ev = events(w.start() + w.chunk(chunk({ content: 'ok' }, 'stop')) + w.chunk({ choices: [], usage: { prompt_tokens: 40, completion_tokens: 1 } }) + w.finish());
    expect((ev[0]![1]['message'] as Json)['usage']).toEqual({ input_tokens: 42, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    expect(ev.find(([n]) => n === 'message_delta')![1]['usage']).toEqual({ input_tokens: 40, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
  });
});

describe('chat -> Messages request (Anthropic upstream)', () => {
  it('lifts system prompts, merges turns, makes tool_use / tool_result blocks and image sources', () => {
    const req = chatToMessages(
      {
        messages: [
          { role: 'system', content: 'Sys one.' },
          { role: 'developer', content: [{ type: 'text', text: 'Sys two.' }] },
          { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,QUJD' } }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
          { role: 'assistant', content: 'Sure.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"q":1}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'result' },
          { role: 'user', content: 'thanks' },
        ],
        temperature: 1.7,
        stop: 'STOP',
        user: 'u',
        stream: true,
        tools: [{ type: 'function', function: { name: 'f', description: 'F', parameters: { type: 'object', properties: {} } } }],
        tool_choice: 'required',
        parallel_tool_calls: false,
      },
      { model: 'claude-x' },
    );
    expect(req).toEqual({
      model: 'claude-x',
      system: 'Sys one.\n\nSys two.',
      max_tokens: 4096,
      temperature: 1,
      stop_sequences: ['STOP'],
      metadata: { user_id: 'u' },
      stream: true,
      tools: [{ name: 'f', description: 'F', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'QUJD' } },
            { type: 'image', source: { type: 'url', url: 'https://x/y.png' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Sure.' }, { type: 'tool_use', id: 'call_1', name: 'f', input: { q: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'result' }, { type: 'text', text: 'thanks' }] },
      ],
    });
    expect(chatToMessages({ messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 12 }, { model: 'c' })['max_tokens']).toBe(12);
    expect(chatToMessages({ messages: [{ role: 'user', content: 'x' }], max_tokens: 13 }, { model: 'c', defaultMaxTokens: 99 })['max_tokens']).toBe(13);
  });

  it('reads a message back as a chat.completion with usage (cache reads and writes in prompt_tokens, and given apart)', () => {
    const chat = messageToChat(
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [{ type: 'text', text: 'On it.' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 3, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 },
      },
      'claude',
    );
    expect(chat).toMatchObject({
      id: 'msg_1',
      object: 'chat.completion',
      model: 'claude',
      choices: [{ index: 0, message: { role: 'assistant', content: 'On it.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 17, completion_tokens: 3, total_tokens: 20, prompt_tokens_details: { cached_tokens: 5 }, cache_creation_input_tokens: 2 },
    });
    // What the executor reads back for the price: reads and writes apart.
    expect(usageOf(chat['usage'])).toEqual({ prompt_tokens: 17, completion_tokens: 3, cache_read_tokens: 5, cache_write_tokens: 2 });
    expect(anthropicUsage({ input_tokens: 1, output_tokens: 2 })).toEqual({ prompt_tokens: 1, completion_tokens: 2, cache_read_tokens: 0, cache_write_tokens: 0 });
    expect(anthropicUsage('x')).toBeNull();
  });

  it('reads a Messages stream into chat chunks', async () => {
    const upstream = [
      ['message_start', { type: 'message_start', message: { id: 'msg_9', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 21, output_tokens: 1 } } }],
      ['ping', { type: 'ping' }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"x":' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '2}' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } }],
      ['message_stop', { type: 'message_stop' }],
    ] as const;
    const sse = upstream.map(([n, d]) => `event: ${n}\ndata: ${JSON.stringify(d)}\n\n`).join('');
    const reader = new AnthropicChunkReader('claude');
    const chunks: Json[] = [];
    let done = false;
    for await (const data of sseData([sse])) {
      const r = reader.read(JSON.parse(data) as Json);
      chunks.push(...r.chunks);
      done ||= r.done;
    }
    expect(done).toBe(true);
    const deltas = chunks.map((c) => (c['choices'] as Json[])[0]!['delta']);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Hel' },
      { content: 'lo' },
      { tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '2}' } }] },
      {},
    ]);
    expect((chunks.at(-1)!['choices'] as Json[])[0]!['finish_reason']).toBe('tool_calls');
    expect(chunks.every((c) => c['id'] === 'msg_9' && c['model'] === 'claude')).toBe(true);
    expect(reader.usage).toEqual({ prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 });
    expect(reader.usageChunk()).toMatchObject({ choices: [], usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 } });
    expect(reader.read({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toMatchObject({ error: 'overloaded_error: Overloaded', errorType: 'overloaded_error' });
  });
});
