/**
 * `routecore serve` speaking OpenAI's Responses API and Anthropic's Messages API, driven by the real
 * `openai` and `@anthropic-ai/sdk` clients, over mock upstreams of both wires (OpenAI chat completions,
 * OpenAI Responses passthrough, Anthropic Messages): routed and explicit models, tools, streaming,
 * fallback across wires for every fault the executor knows, errors in each wire's shape, key headers.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { startMockAnthropic, type AnthropicFault, type MockAnthropic } from './helpers/mock-anthropic.js';
import { post, until } from './helpers/gateway-fixture.js';
import { startMockUpstream, type MockUpstream } from './helpers/mock-upstream.js';

const ENV = { ANTHROPIC_KEY: 'sk-ant-upstream-0123456789', OPENAI_KEY: 'sk-openai-upstream-9876543210', RESP_KEY: 'sk-resp-upstream-5555555555' };
const CLIENT_KEY = 'sk-client-wires-0000000000000001';

let dir: string;
let claude: MockAnthropic;
let gpt: MockUpstream;
let resp: MockUpstream;
let gw: Gateway;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'routecore-wires-'));
  claude = await startMockAnthropic({ name: 'claude' });
  gpt = await startMockUpstream({ name: 'gpt' });
  resp = await startMockUpstream({ name: 'gpt-r' });
  const registry = join(dir, 'models.json');
  writeFileSync(
    registry,
    JSON.stringify({
      models: [
        { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY', inputCostPer1M: 3, outputCostPer1M: 15 },
        { id: 'gpt', provider: 'openai', baseUrl: gpt.baseUrl, apiKeyEnv: 'OPENAI_KEY', inputCostPer1M: 1, outputCostPer1M: 2 },
        { id: 'gpt-r', provider: 'openai', wire: 'openai-responses', baseUrl: resp.baseUrl, apiKeyEnv: 'RESP_KEY', inputCostPer1M: 1, outputCostPer1M: 2 },
      ],
    }),
  );
  const env = { ...ENV, ROUTECORE_API_KEYS: CLIENT_KEY };
  const config = resolveServeConfig({ registry, aliases: { strong: 'claude', weak: 'gpt' }, port: '0', timeoutMs: '1000' }, env);
  config.log = { ...config.log, kind: 'sqlite', path: join(dir, 'log.sqlite'), flushMs: 20 };
  config.upstream = { ...config.upstream, backoffMs: 1 };
  gw = await Gateway.start(config, { env, logStream: { write: () => undefined } });
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.url, apiKey: CLIENT_KEY, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await claude?.close();
  await gpt?.close();
  await resp?.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const m of [claude, gpt, resp] as { fault: unknown; requests: unknown[] }[]) {
    m.fault = { kind: 'ok' };
    m.requests.length = 0;
  }
  for (const id of ['claude', 'gpt']) gw.router.markUnavailable(id, 0);
});

const WEATHER_TOOL = { name: 'weather', description: 'Current weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

describe('POST /v1/responses with the openai SDK', () => {
  it('answers a routed string input with output_text, usage and decision headers', async () => {
    const { data, response } = await openai.responses.create({ model: 'routecore', input: 'Prove that there are infinitely many primes.', instructions: 'Be brief.' }).withResponse();
    expect(data.object).toBe('response');
    expect(data.status).toBe('completed');
    expect(data.output_text).toMatch(/^Answer from (claude|gpt)\.$/);
    expect(data.usage).toMatchObject({ input_tokens: 12, output_tokens: 3, total_tokens: 15 });
    const model = response.headers.get('x-routecore-model');
    expect(['claude', 'gpt']).toContain(model);
    expect(data.model).toBe(model);
    expect(response.headers.get('x-request-id')).toMatch(/^rc-/);
  });

  it('sends item input, instructions and function tools translated to the chat upstream, and returns function_call items', async () => {
    gpt.queue({ kind: 'ok', text: '', tool: { name: 'weather', arguments: '{"city":"Paris"}' } });
    const r = await openai.responses.create({
      model: 'gpt',
      instructions: 'Use tools.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris, and earlier in Oslo?' }] },
        { type: 'function_call', call_id: 'call_0', name: 'weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_0', output: '3C' },
      ],
      tools: [{ type: 'function', strict: false, ...WEATHER_TOOL }],
    });
    const call = r.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'weather', arguments: '{"city":"Paris"}', call_id: expect.any(String) });
    const sent = gpt.requests[0]!.body!;
    expect(sent['messages']).toEqual([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris, and earlier in Oslo?' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_0', content: '3C' },
    ]);
    expect(sent['tools']).toEqual([{ type: 'function', function: { ...WEATHER_TOOL, strict: false } }]);
    expect(gpt.requests[0]!.authorization).toBe(`Bearer ${ENV.OPENAI_KEY}`);
  });

  it('streams the Responses events (created ... output_text.delta ... completed)', async () => {
    const stream = await openai.responses.create({ model: 'gpt', input: 'Count to four.', stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    expect(types[0]).toBe('response.created');
    expect(types).toContain('response.output_item.added');
    expect(types).toContain('response.output_text.done');
    expect(types.at(-1)).toBe('response.completed');
    expect(text).toBe('Answer from gpt.');
    expect(completed?.usage).toMatchObject({ input_tokens: 12, output_tokens: 3 });
    expect(completed?.output[0]).toMatchObject({ content: [{ text: 'Answer from gpt.' }] });
  });

  it('streams tool calls as function_call items with argument deltas', async () => {
    gpt.queue({ kind: 'ok', text: '', tool: { name: 'weather', arguments: '{"city":"Rome"}' } });
    const stream = await openai.responses.create({ model: 'gpt', input: 'Weather in Rome?', tools: [{ type: 'function', strict: null, ...WEATHER_TOOL }], stream: true });
    let args = '';
    let done: OpenAI.Responses.Response | undefined;
    for await (const ev of stream) {
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
      if (ev.type === 'response.completed') done = ev.response;
    }
    expect(args).toBe('{"city":"Rome"}');
    expect(done?.output.find((o) => o.type === 'function_call')).toMatchObject({ name: 'weather', arguments: '{"city":"Rome"}' });
  });

  it('passes the body through unchanged to an upstream whose wire is openai-responses, streamed and not', async () => {
    const r = await openai.responses.create({ model: 'gpt-r', input: [{ role: 'user', content: 'Hello there' }], instructions: 'Be kind.', max_output_tokens: 50 });
    expect(r.id).toMatch(/^resp_gpt-r_/);
    expect(r.output_text).toBe('Answer from gpt-r.');
    expect(r.model).toBe('gpt-r');
    expect(resp.requests[0]).toMatchObject({ path: '/v1/responses', authorization: `Bearer ${ENV.RESP_KEY}` });
    expect(resp.requests[0]!.body).toEqual({ model: 'gpt-r', input: [{ role: 'user', content: 'Hello there' }], instructions: 'Be kind.', max_output_tokens: 50, stream: false });
    const stream = await openai.responses.create({ model: 'gpt-r', input: 'Hello again', stream: true });
    const types: string[] = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    expect(types).toEqual(['response.created', 'response.output_item.added', 'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta', 'response.output_item.done', 'response.completed']);
    expect(text).toBe('Answer from gpt-r.');
  });

  it('passes what only the Responses API can take (stored state, built-in tools, item references) to an openai-responses model unchanged, skipping the others', async () => {
    const body = {
      model: 'gpt-r',
      previous_response_id: 'resp_earlier',
      input: [{ type: 'item_reference', id: 'msg_1' }, { role: 'user', content: 'And in Lima?' }],
      tools: [{ type: 'web_search' }],
    };
    const r = await openai.responses.create(body as never);
    expect(r.output_text).toBe('Answer from gpt-r.');
    expect(resp.requests[0]!.body).toEqual({ ...body, stream: false });
    // gpt-r failing: its fallbacks (claude, gpt) cannot take the request, so nothing is sent to them; a 502 lists every attempt.
    resp.fault = { kind: 'status', status: 503 };
    const down = await openai.responses.create(body as never).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(OpenAI.APIError);
    expect((down as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(gpt.requests).toHaveLength(0);
    expect(claude.requests).toHaveLength(0);
  });

  it('puts the output items it wrote back in place of their item_reference (streamed and not); store: false keeps none', async () => {
    const first = await openai.responses.create({ model: 'gpt', input: 'Hello there' });
    const streamed = await openai.responses.create({ model: 'claude', input: 'Hello again', stream: true });
    let streamedOutput: { id: string }[] = [];
    for await (const ev of streamed) if (ev.type === 'response.completed') streamedOutput = ev.response.output as { id: string }[];
    const unkept = await openai.responses.create({ model: 'gpt', input: 'Not kept', store: false });
    expect(first.output[0]!.id).toMatch(/^msg_/);
    expect(streamedOutput[0]!.id).toMatch(/^msg_/);
    gpt.requests.length = 0;
    const next = await openai.responses.create({
      model: 'gpt',
      input: [
        { role: 'user', content: 'Hello there' },
        { type: 'item_reference', id: first.output[0]!.id },
        { type: 'item_reference', id: streamedOutput[0]!.id },
        { role: 'user', content: 'And now?' },
      ],
    });
    expect(next.output_text).toBe('Answer from gpt.');
    expect(gpt.requests[0]!.body!['messages']).toEqual([
      { role: 'user', content: 'Hello there' },
      { role: 'assistant', content: 'Answer from gpt.' },
      { role: 'assistant', content: 'Answer from claude.' },
      { role: 'user', content: 'And now?' },
    ]);
    // Expanded before routing: an openai-responses upstream gets the item itself, without routecore's id.
    await openai.responses.create({ model: 'gpt-r', input: [{ type: 'item_reference', id: first.output[0]!.id }, { role: 'user', content: 'More?' }] });
    expect(resp.requests[0]!.body!['input']).toEqual([{ type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Answer from gpt.', annotations: [], logprobs: [] }] }, { role: 'user', content: 'More?' }]);
    // An item of an answer asked not to be stored is not kept: the reference is one only OpenAI could resolve.
    const refused = await post(`${gw.url}/v1/responses`, { model: 'gpt', input: [{ type: 'item_reference', id: unkept.output[0]!.id }, { role: 'user', content: 'x' }] }, { authorization: `Bearer ${CLIENT_KEY}` });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'unsupported_parameter', param: 'input[0].type' });
    expect(refused.body.error.message).toContain(`an item_reference to "${unkept.output[0]!.id}", an item this gateway does not hold`);
    expect(refused.body.error.message).toContain('send the item itself, or store: false');
  });

  it('carries a conversation of the AI SDK\'s default Responses provider (store: true sends item references) across turns and models', async () => {
    const { createOpenAI } = await import('@ai-sdk/openai');
    const { generateText, streamText } = await import('ai');
    const provider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY });
    const messages: Parameters<typeof generateText>[0]['messages'] & object = [{ role: 'user', content: 'Hi' }];
    const one = await generateText({ model: provider('claude'), messages, maxRetries: 0 });
    expect(one.text).toBe('Answer from claude.');
    messages.push(...one.response.messages, { role: 'user', content: 'And again?' });
    gpt.requests.length = 0;
    const two = streamText({ model: provider('gpt'), messages, maxRetries: 0 });
    expect(await two.text).toBe('Answer from gpt.');
    // The SDK referred to claude's answer by id; gpt got its text.
    const sent = gpt.requests[0]!.body!['messages'] as { role: string; content: unknown }[];
    expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(sent[1]).toEqual({ role: 'assistant', content: 'Answer from claude.' });
  });

  it('passes a turn that continues a stored response with only tool results (the Agents SDK with previousResponseId) to an openai-responses model', async () => {
    const body = { model: 'gpt-r', previous_response_id: 'resp_earlier', input: [{ type: 'function_call_output', call_id: 'call_1', output: 'Sunny in Paris' }] };
    const r = await openai.responses.create(body as never);
    expect(r.output_text).toBe('Answer from gpt-r.');
    expect(resp.requests[0]!.body).toEqual({ ...body, stream: false });
    const stream = await openai.responses.create({ ...body, stream: true } as never);
    let text = '';
    for await (const ev of stream as AsyncIterable<{ type: string; delta?: string }>) if (ev.type === 'response.output_text.delta') text += ev.delta;
    expect(text).toBe('Answer from gpt-r.');
    // Without an openai-responses model in the decision, the stored state is named as what cannot be honoured.
    const refused = await post(`${gw.url}/v1/responses`, { ...body, model: 'routecore' }, { authorization: `Bearer ${CLIENT_KEY}` });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'unsupported_parameter', param: 'previous_response_id' });
  });

  it('sends safety_identifier and prompt_cache_retention to chat upstreams as they are, and the identifier to Anthropic as metadata.user_id', async () => {
    await openai.responses.create({ model: 'gpt', input: 'Hello', safety_identifier: 'user-42', prompt_cache_retention: '24h' } as never);
    expect(gpt.requests[0]!.body).toMatchObject({ safety_identifier: 'user-42', prompt_cache_retention: '24h' });
    expect(gpt.requests[0]!.body!['user']).toBeUndefined();
    await openai.responses.create({ model: 'claude', input: 'Hello', safety_identifier: 'user-42', prompt_cache_retention: '24h' } as never);
    expect(claude.requests[0]!.body!['metadata']).toEqual({ user_id: 'user-42' });
    expect(claude.requests[0]!.body!['prompt_cache_retention']).toBeUndefined();
  });

  it('sends a tool output\'s image to a chat model in a user turn after the tool turn, and to an Anthropic model beside its tool_result', async () => {
    const input = [
      { role: 'user' as const, content: 'What is on the screen?' },
      { type: 'function_call' as const, call_id: 'call_1', name: 'screenshot', arguments: '{}' },
      { type: 'function_call_output' as const, call_id: 'call_1', output: [{ type: 'input_text' as const, text: 'the screen: ' }, { type: 'input_image' as const, image_url: 'data:image/png;base64,AAAA', detail: 'auto' as const }] },
    ];
    await openai.responses.create({ model: 'gpt', input });
    expect((gpt.requests[0]!.body!['messages'] as unknown[]).slice(2)).toEqual([
      { role: 'tool', tool_call_id: 'call_1', content: 'the screen: (attached below)' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'auto' } }] },
    ]);
    await openai.responses.create({ model: 'claude', input });
    expect((claude.requests[0]!.body!['messages'] as unknown[]).at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'call_1', content: 'the screen: (attached below)' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
      ],
    });
  });

  it('refuses a body nested deeper than 128 levels on every route in its wire\'s shape, before any upstream is called', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const auth = { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
    const cases: [string, string][] = [
      ['/v1/chat/completions', `{"model":"gpt","messages":[{"role":"user","content":"hi"}],"metadata":${deep(10_000)}}`],
      ['/v1/responses', `{"model":"routecore","input":"hi","reasoning":{"a":${deep(5_000)}}}`],
      ['/v1/messages', `{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"hi"}],"context_management":${deep(5_000)}}`],
      ['/v1/messages/count_tokens', `{"model":"claude","messages":[{"role":"user","content":"hi"}],"x":${deep(200)}}`],
      ['/v1/feedback', `{"id":${deep(1_000)},"score":0.5}`],
    ];
    for (const [path, body] of cases) {
      const r = await post(`${gw.url}${path}`, body, auth);
      expect(r.status, path).toBe(400);
      expect(r.body.error.message, path).toBe('the request body nests arrays and objects more than 128 levels deep');
      if (!path.startsWith('/v1/messages')) expect(r.body.error.code, path).toBe('body_too_deep');
      else expect(r.body.type, path).toBe('error');
    }
    expect([gpt.requests.length, claude.requests.length, resp.requests.length]).toEqual([0, 0, 0]);
    expect(gw.router.routeChatSync({ messages: [{ role: 'user', content: 'hi' }] }).fallbacks).toHaveLength(1); // nothing cooled down
    // 128 levels are taken: a deep tool schema is a real request.
    const fine = await post(`${gw.url}/v1/chat/completions`, `{"model":"gpt","messages":[{"role":"user","content":"hi"}],"metadata":{"a":${deep(126)}}}`, auth);
    expect(fine.status).not.toBe(500);
    expect(fine.body.error?.code).not.toBe('body_too_deep');
  });

  it('names the messages (on Responses, the input) when the last user turn is empty: nothing to route', async () => {
    const auth = { authorization: `Bearer ${CLIENT_KEY}` };
    const chat = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: '   ' }] }, auth);
    expect(chat.status).toBe(400);
    expect(chat.body.error).toMatchObject({ code: 'invalid_messages', param: 'messages', message: expect.stringContaining('messages[1].content is empty or whitespace only') });
    const responses = await post(`${gw.url}/v1/responses`, { model: 'routecore', instructions: 'sys', input: '   ' }, auth);
    expect(responses.status).toBe(400);
    expect(responses.body.error).toMatchObject({ code: 'invalid_messages', param: 'input', message: expect.stringMatching(/^input is empty or whitespace only/) });
    // The faces name the client's own fields, not the indexes of the chat messages they were translated
    // into (instructions and Anthropic's system become a first message and shift every index by one).
    const items = await post(`${gw.url}/v1/responses`, { model: 'routecore', instructions: 'sys', input: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'a' }, { role: 'user', content: '  ' }] }, auth);
    expect(items.body.error).toMatchObject({ code: 'invalid_messages', param: 'input', message: expect.stringMatching(/^input\[2\]\.content is empty or whitespace only/) });
    const loneInstructions = await post(`${gw.url}/v1/responses`, '{"model":"routecore","instructions":"rules \\udc00","input":"hi"}', auth);
    expect(loneInstructions.body.error).toMatchObject({ code: 'invalid_messages', param: 'instructions', message: 'instructions contains a lone UTF-16 surrogate (0xdc00) at index 6: it is not valid Unicode text' });
    const anthropic = await post(`${gw.url}/v1/messages`, { model: 'routecore', max_tokens: 50, system: 'sys', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'a' }, { role: 'user', content: [{ type: 'text', text: ' ' }] }] }, auth);
    expect(anthropic.status).toBe(400);
    expect(anthropic.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/^messages\[2\]\.content is empty or whitespace only/) } });
    const loneSystem = await post(`${gw.url}/v1/messages`, '{"model":"routecore","max_tokens":50,"system":[{"type":"text","text":"\\ud800"}],"messages":[{"role":"user","content":"hi"}]}', auth);
    expect(loneSystem.body).toMatchObject({ type: 'error', error: { message: 'system contains a lone UTF-16 surrogate (0xd800) at index 0: it is not valid Unicode text' } });
    expect([gpt.requests.length, claude.requests.length]).toEqual([0, 0]);
    // A lone surrogate in a routed turn (JSON can carry one as \ud800) names the turn, not an index of the routed text.
    const lone = await post(`${gw.url}/v1/chat/completions`, '{"model":"routecore","messages":[{"role":"user","content":"first"},{"role":"assistant","content":"ok"},{"role":"user","content":"then \\ud800"}]}', auth);
    expect(lone.status).toBe(400);
    expect(lone.body.error).toMatchObject({ code: 'invalid_messages', param: 'messages', message: 'messages[2].content contains a lone UTF-16 surrogate (0xd800) at index 5: it is not valid Unicode text' });
    expect([gpt.requests.length, claude.requests.length]).toEqual([0, 0]);
  });

  it('counts in x-routecore-attempts the upstream calls made, not a model skipped without a call', async () => {
    // claude cannot answer a JSON format: skipped (a config attempt) for gpt, which is called once.
    const { data, response } = await openai.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'Hi' }], response_format: { type: 'json_object' } }).withResponse();
    expect(data.model).toBe('gpt');
    expect(claude.requests).toHaveLength(0);
    expect(response.headers.get('x-routecore-attempts')).toBe('1');
  });

  it('keeps the code and param of an upstream\'s own refusal (context_length_exceeded), on chat completions and Responses', async () => {
    const refusal = { kind: 'status', status: 400, code: 'context_length_exceeded', param: 'messages', message: 'This model\'s maximum context length is 128000 tokens.' } as const;
    gpt.queue(refusal);
    const chat = (await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'Hello' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(chat).toBeInstanceOf(OpenAI.BadRequestError);
    expect([chat.code, chat.param]).toEqual(['context_length_exceeded', 'messages']);
    expect(chat.message).toContain('maximum context length is 128000 tokens');
    expect((chat.error as { routecore_code?: string }).routecore_code).toBe('ERR_ROUTECORE_UPSTREAM_REJECTED');
    gpt.queue(refusal);
    const responses = (await openai.responses.create({ model: 'gpt', input: 'Hello' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    // The chat upstream's `messages` is what the Responses client sent as `input`.
    expect([responses.status, responses.code, responses.param]).toEqual([400, 'context_length_exceeded', 'input']);
    // An upstream that gives no code: routecore's own.
    gpt.queue({ kind: 'status', status: 422 });
    const plain = (await openai.chat.completions.create({ model: 'gpt', messages: [{ role: 'user', content: 'Hello' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect([plain.status, plain.code, plain.param]).toEqual([422, 'upstream_rejected', null]);
  });

  it('answers the SDK\'s stored-response calls (retrieve, delete, input items) with a 404 that says why', async () => {
    const retrieve = await openai.responses.retrieve('resp_123').catch((e: unknown) => e);
    expect(retrieve).toBeInstanceOf(OpenAI.NotFoundError);
    expect((retrieve as InstanceType<typeof OpenAI.APIError>).message).toContain('GET /v1/responses/resp_123: routecore stores no responses');
    const items = await openai.responses.inputItems.list('resp_123').catch((e: unknown) => e);
    expect((items as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
    expect((items as { error: { code: string } }).error.code).toBe('response_not_stored');
  });

  it.each([
    [{ model: 'routecore' }, 400, 'missing_input', 'input', 'body.input is required'],
    [{ input: 'x', previous_response_id: 'resp_1' }, 400, 'unsupported_parameter', 'previous_response_id', 'routecore stores no responses'],
    // A background response is fetched later by id, which no upstream of the gateway can be asked for: refused even for gpt-r.
    [{ input: 'x', model: 'gpt-r', background: true }, 400, 'unsupported_parameter', 'background', 'call without background'],
    [{ input: [{ type: 'function_call_output', call_id: 'call_1', output: 'Sunny' }] }, 400, 'invalid_input', 'input', 'at least one user message'],
    // What only OpenAI's Responses API can take goes to openai-responses models only; this decision (claude, gpt) has none.
    [{ input: 'x', tools: [{ type: 'web_search' }] }, 400, 'unsupported_parameter', 'tools[0].type', 'only an openai-responses upstream can take the built-in tool "web_search"'],
    [{ input: [{ role: 'user', content: [{ type: 'input_video' }] }] }, 400, 'unsupported_parameter', 'input[0].content[0].type', 'a "input_video" content part'],
    [{ input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 400, 'invalid_request', 'input[0].content[0].text', 'must be a string'],
    [{ input: 'x', model: 'no-such-model' }, 404, 'model_not_found', 'model', 'no-such-model'],
    [[1, 2], 400, 'invalid_body', null, 'must be a JSON object'],
    ['{"input": ', 400, 'invalid_json', null, 'not valid JSON'],
  ])('refuses a bad body %j with %i in the OpenAI shape', async (body, status, code, param, message) => {
    const r = await post(`${gw.url}/v1/responses`, body, { authorization: `Bearer ${CLIENT_KEY}` });
    expect(r.status).toBe(status);
    expect(r.body.error).toMatchObject({ type: status === 404 ? 'invalid_request_error' : 'invalid_request_error', code, param });
    expect(r.body.error.message).toContain(message);
  });
});

describe('POST /v1/messages with the Anthropic SDK', () => {
  it('calls an Anthropic model natively, passing the body through unchanged (x-api-key as the client key)', async () => {
    const body = { model: 'claude', max_tokens: 64, system: [{ type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' as const } }], messages: [{ role: 'user' as const, content: 'Hi' }] };
    const { data, response } = await anthropic.messages.create(body).withResponse();
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model: 'claude', content: [{ type: 'text', text: 'Answer from claude.' }], stop_reason: 'end_turn', usage: { input_tokens: 12 } });
    expect(response.headers.get('x-routecore-model')).toBe('claude');
    const sent = claude.requests[0]!;
    expect(sent.body).toEqual(body);
    expect(sent.headers['x-api-key']).toBe(ENV.ANTHROPIC_KEY);
    // The client's anthropic-version (the SDK's) is forwarded; routecore's default applies only when none is sent.
    expect(sent.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('answers a routed request with tools from an OpenAI upstream, translated both ways', async () => {
    gpt.queue({ kind: 'ok', text: 'Checking.', tool: { name: 'weather', arguments: '{"city":"Lima"}' } });
    const r = await anthropic.messages.create({
      model: 'gpt',
      max_tokens: 100,
      system: 'Use tools.',
      tools: [{ name: 'weather', description: WEATHER_TOOL.description, input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
      messages: [
        { role: 'user', content: 'Weather in Lima?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'weather', input: { city: 'Quito' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_0', content: '20C' }] },
      ],
    });
    expect(r.model).toBe('gpt');
    expect(r.stop_reason).toBe('tool_use');
    expect(r.content).toEqual([{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: expect.any(String), name: 'weather', input: { city: 'Lima' } }]);
    expect(gpt.requests[0]!.body!['messages']).toEqual([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: 'Weather in Lima?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Quito"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_0', content: '20C' },
    ]);
  });

  it('streams from an OpenAI upstream as Messages events; the SDK assembles text and tool input', async () => {
    gpt.queue({ kind: 'ok', text: 'Let me see.', tool: { name: 'weather', arguments: '{"city":"Kyiv"}' } });
    const stream = anthropic.messages.stream({ model: 'gpt', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Kyiv?' }], tools: [{ name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }] });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const msg = await stream.finalMessage();
    expect(msg.content).toEqual([{ type: 'text', text: 'Let me see.' }, { type: 'tool_use', id: expect.any(String), name: 'weather', input: { city: 'Kyiv' } }]);
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
  });

  it('streams parallel tool calls whose argument deltas interleave upstream as one block after the other: each contentBlock event carries the whole input', async () => {
    const calls = [{ name: 'weather', arguments: '{"city":"Paris"}' }, { name: 'weather', arguments: '{"city":"Tokyo"}' }];
    gpt.queue({ kind: 'ok', text: 'Both.', tools: calls });
    const stream = anthropic.messages.stream({ model: 'gpt', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }], tools: [{ name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }] });
    // What a client that runs a tool at content_block_stop sees then (a copy: the SDK's snapshot changes later).
    const blocks: unknown[] = [];
    stream.on('contentBlock', (b) => blocks.push(structuredClone(b)));
    const order: string[] = [];
    stream.on('streamEvent', (e) => order.push('index' in e ? `${e.type.slice('content_block_'.length)}:${e.index}` : e.type));
    const msg = await stream.finalMessage();
    const expected = [
      { type: 'text', text: 'Both.' },
      { type: 'tool_use', id: expect.any(String), name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: expect.any(String), name: 'weather', input: { city: 'Tokyo' } },
    ];
    expect(blocks).toEqual(expected);
    expect(msg.content).toEqual(expected);
    expect(msg.stop_reason).toBe('tool_use');
    // Anthropic's order: one block at a time, no delta after its stop.
    expect(order.join(' ')).toMatch(/^message_start start:0 (delta:0 )+stop:0 start:1 (delta:1 )+stop:1 start:2 (delta:2 )+stop:2 message_delta message_stop$/);
  });

  it('puts an estimate of the input tokens in message_start for a chat upstream (the count comes in message_delta), with both cache fields', async () => {
    const stream = anthropic.messages.stream({ model: 'gpt', max_tokens: 10, messages: [{ role: 'user', content: 'How many words does this question have?' }] });
    const usage: Record<string, unknown> = {};
    stream.on('streamEvent', (e) => {
      // A copy: the SDK's message snapshot is message_start's message, updated by message_delta.
      if (e.type === 'message_start') usage['start'] = structuredClone(e.message.usage);
      if (e.type === 'message_delta') usage['delta'] = e.usage;
    });
    const msg = await stream.finalMessage();
    expect(usage['start']).toEqual({ input_tokens: expect.any(Number), output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    expect((usage['start'] as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    expect(usage['delta']).toEqual({ input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    expect(msg.usage).toMatchObject({ input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
  });

  it('streams natively from an Anthropic upstream (the upstream events pass through)', async () => {
    claude.queue({ kind: 'ok', text: 'Native stream here.', tool: { name: 'weather', arguments: '{"city":"Oslo"}' } });
    const events = await anthropic.messages.create({ model: 'claude', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'Go' }] });
    const seen: string[] = [];
    let text = '';
    for await (const e of events) {
      seen.push(e.type);
      if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
      if (e.type === 'message_start') expect(e.message.model).toBe('claude');
    }
    expect(text).toBe('Native stream here.');
    expect(seen.filter((t) => t === 'content_block_start')).toHaveLength(2);
    expect(claude.requests[0]!.body).toMatchObject({ stream: true, messages: [{ role: 'user', content: 'Go' }] });
  });

  it.each([
    [{ model: 'routecore', messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'max_tokens: Field required'],
    [{ model: 'routecore', max_tokens: 10 }, 400, 'invalid_request_error', 'messages: Field required'],
    [{ model: 'routecore', max_tokens: 10, messages: [{ role: 'robot', content: 'x' }] }, 400, 'invalid_request_error', 'messages[0].role'],
    [{ model: 'routecore', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 400, 'invalid_request_error', 'content[0].text'],
    [{ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, 404, 'not_found_error', 'nope'],
    ['not json', 400, 'invalid_request_error', 'not valid JSON'],
  ])('refuses a bad body %j with %i in the Anthropic shape', async (body, status, type, message) => {
    const r = await post(`${gw.url}/v1/messages`, body, { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    expect(r.status).toBe(status);
    expect(r.body).toEqual({ type: 'error', error: { type, message: expect.stringContaining(message) } });
  });

  it('sends what chat completions cannot carry (a newer field, a server tool, another block type) to Anthropic models only, unchanged', async () => {
    const body = {
      model: 'gpt',
      max_tokens: 64,
      output_config: { effort: 'low' },
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Sources, please.' }, { type: 'search_result', source: 'https://example.org', title: 'x', content: [{ type: 'text', text: 'y' }] }] }],
    };
    const { data, response } = await anthropic.messages.create(body as never).withResponse();
    expect(data.model).toBe('claude');
    expect(response.headers.get('x-routecore-model')).toBe('claude');
    expect(gpt.requests).toHaveLength(0);
    expect(claude.requests[0]!.body).toEqual({ ...body, model: 'claude' });
  });

  it('sends metadata.user_id to a chat model as user, as its SHA-256 when longer than the 64 characters OpenAI takes', async () => {
    const long = `user_${'a'.repeat(64)}_account_${'b'.repeat(36)}_session_${'c'.repeat(36)}`;
    await anthropic.messages.create({ model: 'gpt', max_tokens: 16, metadata: { user_id: long }, messages: [{ role: 'user', content: 'Hi' }] });
    expect(gpt.requests[0]!.body!['user']).toBe(createHash('sha256').update(long).digest('hex'));
    await anthropic.messages.create({ model: 'gpt', max_tokens: 16, metadata: { user_id: 'u-42' }, messages: [{ role: 'user', content: 'Hi' }] });
    expect(gpt.requests[1]!.body!['user']).toBe('u-42');
  });

  it('translates output_config (structured outputs, effort) for chat models instead of keeping the request to Anthropic ones', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const body = { model: 'gpt', max_tokens: 64, output_config: { effort: 'low', format: { type: 'json_schema', schema } }, messages: [{ role: 'user' as const, content: 'Where?' }] };
    const answer = await anthropic.messages.create(body as never);
    expect(answer.model).toBe('gpt');
    expect(gpt.requests[0]!.body!['response_format']).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema } });
    expect(gpt.requests[0]!.body!['reasoning_effort']).toBeUndefined();
    await anthropic.messages.create({ ...body, model: 'claude' } as never);
    expect(claude.requests[0]!.body).toEqual({ ...body, model: 'claude' });
    const bad = await post(`${gw.url}/v1/messages`, { ...body, output_config: { format: { type: 'json_schema' } } }, { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('body.output_config.format must be an object {"type": "json_schema", "schema": {...}}');
  });

  it('raises the SDK error classes: bad request, authentication, all upstreams down', async () => {
    await expect(anthropic.messages.create({ model: 'routecore', max_tokens: 0, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    const stranger = new Anthropic({ baseURL: gw.url, apiKey: 'sk-wrong-key', maxRetries: 0 });
    const denied = await stranger.messages.create({ model: 'routecore', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(denied).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(denied.error).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'the API key is not valid for this gateway' } });
    claude.fault = { kind: 'status', status: 529 };
    gpt.fault = { kind: 'status', status: 503 };
    resp.fault = { kind: 'status', status: 503 };
    const down = await anthropic.messages.create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(down).toBeInstanceOf(Anthropic.APIError);
    expect(down.status).toBeGreaterThanOrEqual(500);
    expect(down.error.type).toBe('error');
    expect(down.error.error.message).toContain('every upstream attempt failed');
  });

  it('surfaces a stream broken after tokens as an SDK error, never a silent retry', async () => {
    claude.fault = { kind: 'error-event', after: 2 };
    const stream = anthropic.messages.stream({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    await expect(stream.finalMessage()).rejects.toThrow(/stream broke after tokens were sent/);
    gpt.fault = { kind: 'cut', after: 2 };
    const events = await openai.responses.create({ model: 'gpt', input: 'x', stream: true });
    await expect((async () => {
      for await (const _ of events) void _;
    })()).rejects.toThrow(/stream broke after tokens were sent/);
  });

  it('logs one row per answered request on the new routes', async () => {
    const { response } = await anthropic.messages.create({ model: 'gpt', max_tokens: 10, messages: [{ role: 'user', content: 'log me' }] }).withResponse();
    const id = response.headers.get('x-request-id')!;
    // Feedback matches only a logged request (404 otherwise): the row of a /v1/messages answer is there.
    await until(async () => (await post(`${gw.url}/v1/feedback`, { id, score: 1 }, { authorization: `Bearer ${CLIENT_KEY}` })).status === 200, 'the log row of ' + id);
  });
});

describe('in-gateway overhead (upstream wait excluded)', () => {
  it('is a header on every answer and a metric per route, and leaves out a slow upstream\'s wait', async () => {
    gpt.fault = { kind: 'ok', delayMs: 400 };
    const started = performance.now();
    const { response } = await openai.responses.create({ model: 'gpt', input: 'x' }).withResponse();
    const total = performance.now() - started;
    const us = Number(response.headers.get('x-routecore-overhead-us'));
    expect(Number.isInteger(us) && us >= 0).toBe(true);
    expect(total).toBeGreaterThan(400);
    // The 400 ms the upstream took are not the gateway's: what is left is its own work.
    expect(us).toBeLessThan(400_000);
    const stream = await anthropic.messages.create({ model: 'gpt', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(Number(stream.response.headers.get('x-routecore-overhead-us'))).toBeLessThan(400_000);
    for await (const _ of stream.data) void _;
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^routecore_gateway_overhead_seconds_count\{route="\/v1\/responses"\} [1-9]/m);
    expect(metrics).toMatch(/^routecore_gateway_overhead_seconds_count\{route="\/v1\/messages"\} [1-9]/m);
    const sum = Number(/^routecore_gateway_overhead_seconds_sum\{route="\/v1\/responses"\} (\S+)/m.exec(metrics)![1]);
    const count = Number(/^routecore_gateway_overhead_seconds_count\{route="\/v1\/responses"\} (\S+)/m.exec(metrics)![1]);
    expect(sum / count).toBeLessThan(0.4);
  });
});

describe('fallback across wires for every fault (both SDKs, streamed and not)', () => {
  const faults: [string, AnthropicFault][] = [
    ['500', { kind: 'status', status: 500 }],
    ['503', { kind: 'status', status: 503 }],
    ['429 with a long Retry-After', { kind: 'status', status: 429, retryAfter: 60 }],
    ['401', { kind: 'status', status: 401 }],
    ['timeout', { kind: 'timeout' }],
    ['reset', { kind: 'reset' }],
    ['malformed', { kind: 'malformed' }],
    ['stream ends before its first token', { kind: 'truncated', after: 0 }],
    ['connection cut (half a body; a stream before its first token)', { kind: 'cut', after: 0 }],
    ['409 conflict', { kind: 'status', status: 409 }],
  ];
  it.each(faults)('Anthropic upstream %s on /v1/messages -> answered by the OpenAI upstream', async (_n, fault) => {
    // A stream ending early is a fault of streams only; a non-streamed answer has no first token to miss.
    for (const stream of fault.kind === 'truncated' ? [true] : [false, true]) {
      claude.fault = fault;
      gw.router.markUnavailable('claude', 0);
      gw.router.markUnavailable('gpt', 0);
      if (stream) {
        const msg = await anthropic.messages.stream({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
        expect(msg).toMatchObject({ model: 'gpt', content: [{ type: 'text', text: 'Answer from gpt.' }] });
      } else {
        const { data, response } = await anthropic.messages.create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).withResponse();
        expect(data).toMatchObject({ model: 'gpt', content: [{ type: 'text', text: 'Answer from gpt.' }] });
        expect(Number(response.headers.get('x-routecore-attempts'))).toBeGreaterThanOrEqual(2);
      }
    }
  });
  it.each(faults)('OpenAI upstream %s on /v1/responses -> answered by the Anthropic upstream', async (_n, fault) => {
    for (const stream of fault.kind === 'truncated' ? [true] : [false, true]) {
      gpt.fault = fault;
      gw.router.markUnavailable('claude', 0);
      gw.router.markUnavailable('gpt', 0);
      if (stream) {
        let text = '';
        let model = '';
        for await (const ev of await openai.responses.create({ model: 'gpt', input: 'x', stream: true })) {
          if (ev.type === 'response.output_text.delta') text += ev.delta;
          if (ev.type === 'response.completed') model = ev.response.model;
        }
        expect({ text, model }).toEqual({ text: 'Answer from claude.', model: 'claude' });
      } else {
        const r = await openai.responses.create({ model: 'gpt', input: 'x' });
        expect({ text: r.output_text, model: r.model }).toEqual({ text: 'Answer from claude.', model: 'claude' });
      }
    }
  });
});
