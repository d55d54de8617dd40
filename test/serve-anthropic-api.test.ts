/**
 * The gateway's Anthropic API beyond `/v1/messages`, driven by the real `@anthropic-ai/sdk` over the
 * project's mock upstreams: `POST /v1/messages/count_tokens` (passed to an Anthropic upstream's own
 * count, else routecore's estimate, said by `x-routecore-token-count`) and `GET /v1/models` in
 * Anthropic's list shape for Anthropic clients (paged), OpenAI's for the rest; bad bodies and queries
 * get a 4xx in Anthropic's shape naming the field.
 */
import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { hashKey, resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { post } from './helpers/gateway-fixture.js';
import { type MockAnthropic, startMockAnthropic } from './helpers/mock-anthropic.js';
import { type MockUpstream, startMockUpstream } from './helpers/mock-upstream.js';

const ENV = { ANTHROPIC_KEY: 'sk-ant-upstream-count-0123456789', OPENAI_KEY: 'sk-openai-upstream-count-9876543210' };
const CLIENT_KEY = 'sk-client-anthropic-api-00000001';
const LIMITED_KEY = 'sk-client-anthropic-api-limited-2';
const SLOW_KEY = 'sk-client-anthropic-api-slow-00003';
const ROUTED = ['routecore', 'routecore:best', 'routecore:cost', 'routecore:threshold', 'routecore:subset'];

let dir: string;
let claude: MockAnthropic;
let gpt: MockUpstream;
let gw: Gateway;
let anthropic: Anthropic;
let limited: Anthropic;
let openai: OpenAI;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'routecore-anthropic-api-'));
  claude = await startMockAnthropic({ name: 'claude', countTokens: 321 });
  gpt = await startMockUpstream({ name: 'gpt' });
  const registry = join(dir, 'models.json');
  writeFileSync(
    registry,
    JSON.stringify({
      models: [
        { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY', inputCostPer1M: 3, outputCostPer1M: 15, contextWindow: 200000 },
        { id: 'gpt', provider: 'openai', baseUrl: gpt.baseUrl, apiKeyEnv: 'OPENAI_KEY', inputCostPer1M: 1, outputCostPer1M: 2 },
      ],
    }),
  );
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `keys:\n  - {name: all, sha256: ${hashKey(CLIENT_KEY)}}\n  - {name: limited, sha256: ${hashKey(LIMITED_KEY)}, models: [gpt, "routecore:*"]}\n  - {name: slow, sha256: ${hashKey(SLOW_KEY)}, requestsPerMinute: 2}\n`);
  const config = resolveServeConfig({ registry, config: file, aliases: { strong: 'claude', weak: 'gpt' }, port: '0', timeoutMs: '2000', log: 'none' }, ENV);
  gw = await Gateway.start(config, { env: ENV, logStream: { write: () => undefined } });
  anthropic = new Anthropic({ baseURL: gw.url, apiKey: CLIENT_KEY, maxRetries: 0 });
  limited = new Anthropic({ baseURL: gw.url, apiKey: LIMITED_KEY, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await claude?.close();
  await gpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  claude.fault = { kind: 'ok' };
  claude.requests.length = 0;
  gpt.requests.length = 0;
  for (const id of ['claude', 'gpt']) gw.router.markUnavailable(id, 0);
});

const MESSAGES: Anthropic.MessageParam[] = [{ role: 'user', content: 'Count the tokens of this question, please.' }];
const TOOL = { name: 'weather', description: 'Current weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };

/** The Anthropic-shaped error the SDK raised: status and the body's `error`. */
async function anthropicFailure(p: Promise<unknown>): Promise<{ status: number; type: string; message: string; body: unknown }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const e = err as InstanceType<typeof Anthropic.APIError>;
    const body = e.error as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    return { status: e.status!, type: body.error.type, message: body.error.message, body };
  }
  throw new Error('expected the SDK to raise an APIError');
}

describe('POST /v1/messages beyond the basics', () => {
  it('answers a user turn that is only an image (routed on the system prompt), through the Anthropic SDK', async () => {
    const m = await anthropic.messages.create({
      model: 'gpt',
      max_tokens: 64,
      system: 'Extract all text from the image.',
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] }],
    });
    expect(m.content[0]).toMatchObject({ type: 'text', text: 'Answer from gpt.' });
    const sent = gpt.requests.at(-1)!.body as { messages: { role: string; content: unknown }[] };
    expect(sent.messages.at(-1)).toMatchObject({ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] });
  });

  it('refuses a message thread as Anthropic does, so the SDK\'s tool runner goes on with the whole history, on either wire', async () => {
    const { betaTool } = await import('@anthropic-ai/sdk/helpers/beta/json-schema');
    for (const model of ['claude', 'gpt', 'routecore']) {
      claude.requests.length = 0;
      gpt.requests.length = 0;
      const question: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const answering = model === 'routecore' ? gw.router.routeChatSync({ messages: question }).model : model;
      (answering === 'claude' ? claude : gpt).queue({ kind: 'ok', tool: { name: 'weather', arguments: '{"city":"Paris"}' } });
      const seen: unknown[] = [];
      const weather = betaTool({ name: 'weather', description: 'Current weather in a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, run: async (input: { city: string }) => {
        seen.push(input);
        return `sunny in ${input.city}`;
      } });
      const final = await anthropic.beta.messages.toolRunner({ model, max_tokens: 100, messages: question, tools: [weather] }).runUntilDone();
      expect(seen).toEqual([{ city: 'Paris' }]);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.content.some((b) => b.type === 'text' && b.text.startsWith('Answer from'))).toBe(true);
      // The second turn reached an upstream with the whole conversation: the question, the call, its result.
      const last = [...claude.requests, ...gpt.requests].at(-1)!.body!;
      expect(JSON.stringify(last)).toContain('sunny in Paris');
      expect(JSON.stringify(last)).toContain('What is the weather in Paris?');
    }
    const refused = await post(`${gw.url}/v1/messages`, { model: 'claude', max_tokens: 10, thread: { type: 'create' }, messages: MESSAGES }, { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'body.thread: routecore keeps no message threads (it routes every turn on the whole conversation); send the full history instead',
        details: { error_code: 'thread_unsupported_request', unsupported: ['thread'] },
      },
    });
  });

  it('answers a wrong method on /v1/messages with a 405 in Anthropic\'s shape', async () => {
    const res = await fetch(`${gw.url}/v1/messages`, { headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'GET /v1/messages is not supported; use POST' } });
    const count = await fetch(`${gw.url}/v1/messages/count_tokens`, { headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' } });
    expect(count.status).toBe(405);
    expect(await count.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'GET /v1/messages/count_tokens is not supported; use POST' } });
  });
});

describe('POST /v1/messages/count_tokens with the Anthropic SDK', () => {
  it('passes an Anthropic model\'s count through to its upstream, with the upstream key and the body as sent', async () => {
    const { data, response } = await anthropic.messages.countTokens({ model: 'claude', system: 'Be brief.', messages: MESSAGES, tools: [TOOL] }).withResponse();
    expect(data).toEqual({ input_tokens: 321 });
    expect(response.headers.get('x-routecore-token-count')).toBe('upstream');
    expect(response.headers.get('x-routecore-model')).toBe('claude');
    expect(response.headers.get('x-routecore-attempts')).toBe('1');
    expect(claude.requests).toHaveLength(1);
    const sent = claude.requests[0]!;
    expect(sent.path).toBe('/v1/messages/count_tokens');
    expect(sent.headers['x-api-key']).toBe(ENV.ANTHROPIC_KEY);
    expect(sent.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(sent.body).toEqual({ model: 'claude', system: 'Be brief.', messages: MESSAGES, tools: [TOOL] });
    // The client's anthropic-version and anthropic-beta reach the upstream as sent.
    const r = await post(`${gw.url}/v1/messages/count_tokens`, { model: 'claude', messages: MESSAGES }, { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'token-counting-2024-11-01' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ input_tokens: 321 });
    expect(claude.requests[1]!.headers).toMatchObject({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'token-counting-2024-11-01' });
  });

  it('estimates for a model that is not Anthropic, with the executor\'s estimate, and says so', async () => {
    const { data, response } = await anthropic.messages.countTokens({ model: 'gpt', messages: MESSAGES }).withResponse();
    // 42 UTF-8 bytes at 4 per token → 11, plus 4 tokens of framing for the one message.
    expect(data).toEqual({ input_tokens: 15 });
    expect(response.headers.get('x-routecore-token-count')).toBe('estimate');
    expect(response.headers.get('x-routecore-model')).toBe('gpt');
    expect(response.headers.get('x-routecore-attempts')).toBe('0');
    expect(gpt.requests).toHaveLength(0);
    // A system prompt is one more message (its 9 bytes join the text); tool definitions count at the same rate.
    const withTools = await anthropic.messages.countTokens({ model: 'gpt', system: 'Be brief.', messages: MESSAGES, tools: [TOOL] });
    expect(withTools.input_tokens).toBe(Math.ceil((42 + 9) / 4) + 2 * 4 + Math.ceil(Buffer.byteLength(JSON.stringify([TOOL])) / 4));
  });

  it('resolves a routed model with the router, and counts with the model it chose', async () => {
    const strong = await anthropic.messages.countTokens({ model: 'routecore:threshold:0', messages: MESSAGES }).withResponse();
    expect(strong.response.headers.get('x-routecore-model')).toBe('claude');
    expect(strong.response.headers.get('x-routecore-policy')).toBe('threshold');
    expect(strong.data.input_tokens).toBe(321);
    const weak = await anthropic.messages.countTokens({ model: 'routecore:threshold:1', messages: MESSAGES }).withResponse();
    expect(weak.response.headers.get('x-routecore-model')).toBe('gpt');
    expect(weak.response.headers.get('x-routecore-token-count')).toBe('estimate');
    expect(weak.data.input_tokens).toBe(15);
  });

  it('falls back to the estimate when the Anthropic upstream fails, and says so', async () => {
    claude.fault = { kind: 'status', status: 529 };
    const { data, response } = await anthropic.messages.countTokens({ model: 'claude', messages: MESSAGES }).withResponse();
    expect(data).toEqual({ input_tokens: 15 });
    expect(response.headers.get('x-routecore-token-count')).toBe('estimate');
    expect(response.headers.get('x-routecore-attempts')).toBe('1');
    for (const fault of [{ kind: 'reset' }, { kind: 'malformed' }] as const) {
      claude.fault = fault;
      const r = await anthropic.messages.countTokens({ model: 'claude', messages: MESSAGES }).withResponse();
      expect(r.data.input_tokens).toBe(15);
      expect(r.response.headers.get('x-routecore-token-count')).toBe('estimate');
    }
  });

  it('passes on the upstream\'s refusal of the body (400), in Anthropic\'s shape', async () => {
    claude.fault = { kind: 'status', status: 400, message: 'messages.0.content: too many images' };
    const f = await anthropicFailure(anthropic.messages.countTokens({ model: 'claude', messages: MESSAGES }));
    expect(f).toMatchObject({ status: 400, type: 'invalid_request_error', message: 'messages.0.content: too many images' });
  });

  it('refuses bad bodies with a 4xx in Anthropic\'s shape naming the field', async () => {
    const bad = (body: Record<string, unknown>) => anthropicFailure(anthropic.messages.countTokens(body as never));
    expect(await bad({ model: 'claude' })).toMatchObject({ status: 400, type: 'invalid_request_error', message: 'body.messages: Field required' });
    expect(await bad({ model: 'claude', messages: [] })).toMatchObject({ status: 400, message: expect.stringContaining('body.messages') });
    expect(await bad({ model: 'claude', messages: MESSAGES, max_tokens: 10 })).toMatchObject({ status: 400, message: expect.stringMatching(/^body\.max_tokens: Extra inputs are not permitted/) });
    expect(await bad({ model: 'claude', messages: MESSAGES, system: 3 })).toMatchObject({ status: 400, message: expect.stringContaining('system') });
    expect(await bad({ model: 'claude', messages: MESSAGES, tools: [{ name: 'x' }] })).toMatchObject({ status: 400, message: expect.stringContaining('tools[0].input_schema') });
    expect(await bad({ model: 'claude', messages: [{ role: 'assistant', content: 'hi' }] })).toMatchObject({ status: 400, message: expect.stringContaining('no user turn') });
    // The client's own message is named, not its index after the system prompt became a first message.
    expect(await bad({ model: 'claude', system: 'sys', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'a' }, { role: 'user', content: '  ' }] })).toMatchObject({ status: 400, message: expect.stringMatching(/^messages\[2\]\.content is empty or whitespace only/) });
    expect(await bad({ model: 'nope', messages: MESSAGES })).toMatchObject({ status: 404, type: 'not_found_error', message: expect.stringContaining('model "nope" is not routecore') });
    expect(await bad({ model: 'routecore:fastest', messages: MESSAGES })).toMatchObject({ status: 400, message: expect.stringContaining('routecore:<policy>') });
    expect(claude.requests).toHaveLength(0);
  });

  it('takes the fields the Anthropic SDK sends that chat cannot carry, passing them to an Anthropic model\'s count unchanged', async () => {
    // thinking with a budget: count_tokens takes no max_tokens, so no budget may be held against one.
    const body = { model: 'claude', messages: MESSAGES, cache_control: { type: 'ephemeral' }, output_config: { effort: 'low' }, thinking: { type: 'enabled', budget_tokens: 2000 }, tools: [{ type: 'web_search_20250305', name: 'web_search' }] };
    const r = await anthropic.messages.countTokens(body as never);
    expect(r.input_tokens).toBe(321);
    expect(claude.requests[0]!.body).toEqual(body);
    const estimated = await anthropic.messages.countTokens({ ...body, model: 'gpt' } as never);
    expect(estimated.input_tokens).toBeGreaterThan(0);
  });

  it('answers a body that is not JSON, a wrong key and a model the key may not use in Anthropic\'s shape', async () => {
    const notJson = await post(`${gw.url}/v1/messages/count_tokens`, '{"model": ', { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('not valid JSON') } });
    const stranger = new Anthropic({ baseURL: gw.url, apiKey: 'sk-not-a-key-of-this-gateway', maxRetries: 0 });
    expect(await anthropicFailure(stranger.messages.countTokens({ model: 'claude', messages: MESSAGES }))).toMatchObject({ status: 401, type: 'authentication_error' });
    expect(await anthropicFailure(limited.messages.countTokens({ model: 'claude', messages: MESSAGES }))).toMatchObject({ status: 403, type: 'permission_error', message: expect.stringContaining('key "limited" may not use model "claude"') });
    expect((await limited.messages.countTokens({ model: 'gpt', messages: MESSAGES })).input_tokens).toBe(15);
  });

  it('counts against the key\'s requests per minute, refusing the one over it with 429 and retry-after in Anthropic\'s shape', async () => {
    const slow = new Anthropic({ baseURL: gw.url, apiKey: SLOW_KEY, maxRetries: 0 });
    // Two a minute: the third is refused; a minute boundary between the calls starts a fresh window, hence up to six tries.
    let refused: InstanceType<typeof Anthropic.APIError> | undefined;
    for (let i = 0; i < 6 && !refused; i++) {
      try {
        await slow.messages.countTokens({ model: 'gpt', messages: MESSAGES });
      } catch (err) {
        refused = err as InstanceType<typeof Anthropic.APIError>;
      }
    }
    expect(refused?.status).toBe(429);
    expect(refused?.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: expect.stringContaining('key "slow" is over its limit of 2 requests per minute') } });
    expect(Number(refused?.headers?.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('GET /v1/models in the client\'s shape', () => {
  const ALL = [...ROUTED, 'claude', 'gpt'];

  it('lists Anthropic\'s shape for the Anthropic SDK, paged by limit and after_id', async () => {
    const page = await anthropic.models.list({ limit: 3 });
    expect(page.data.map((m) => m.id)).toEqual(ALL.slice(0, 3));
    expect(page.has_more).toBe(true);
    expect(page.first_id).toBe('routecore');
    expect(page.last_id).toBe('routecore:cost');
    expect(page.data[0]).toEqual({
      type: 'model',
      id: 'routecore',
      display_name: 'routecore (routed, default policy)',
      created_at: '1970-01-01T00:00:00.000Z',
      capabilities: null,
      deprecated_at: null,
      lifecycle: 'active',
      line: null,
      max_input_tokens: null,
      max_tokens: null,
      retires_at: null,
    });
    // The SDK's auto-pagination walks every page through after_id.
    const seen: Anthropic.ModelInfo[] = [];
    for await (const m of anthropic.models.list({ limit: 2 })) seen.push(m);
    expect(seen.map((m) => m.id)).toEqual(ALL);
    expect(seen.find((m) => m.id === 'claude')).toMatchObject({ display_name: 'claude', max_input_tokens: 200000 });
    expect(seen.find((m) => m.id === 'routecore:cost')!.display_name).toBe('routecore (routed, cost policy)');
  });

  it('pages backwards with before_id, and the default page holds everything here', async () => {
    const back = await anthropic.models.list({ before_id: 'claude', limit: 2 });
    expect(back.data.map((m) => m.id)).toEqual(['routecore:threshold', 'routecore:subset']);
    expect(back.has_more).toBe(true);
    const all = await anthropic.models.list();
    expect(all.data.map((m) => m.id)).toEqual(ALL);
    expect(all.has_more).toBe(false);
    expect(all.last_id).toBe('gpt');
  });

  it('keeps OpenAI\'s shape for other clients, from the same gateway', async () => {
    const list = await openai.models.list();
    expect(list.data.map((m) => m.id)).toEqual(ALL);
    expect(list.data[0]).toMatchObject({ id: 'routecore', object: 'model', owned_by: 'routecore' });
    expect(list.data.find((m) => m.id === 'claude')).toMatchObject({ object: 'model', owned_by: 'anthropic' });
  });

  it('retrieves one model in either shape, and 404s in either shape', async () => {
    expect(await anthropic.models.retrieve('claude')).toMatchObject({ type: 'model', id: 'claude', display_name: 'claude' });
    expect(await anthropic.models.retrieve('routecore:cost')).toMatchObject({ type: 'model', id: 'routecore:cost' });
    expect(await openai.models.retrieve('gpt')).toMatchObject({ id: 'gpt', object: 'model', owned_by: 'openai' });
    expect(await anthropicFailure(anthropic.models.retrieve('nope'))).toMatchObject({ status: 404, type: 'not_found_error', message: expect.stringContaining('"nope"') });
    await expect(openai.models.retrieve('nope')).rejects.toMatchObject({ status: 404, error: { code: 'model_not_found' } });
  });

  it('shows a key only the models it may use', async () => {
    const page = await limited.models.list();
    // Its allow-list is [gpt, "routecore:*"]: the prefix admits every routecore:<policy>, not the bare name.
    expect(page.data.map((m) => m.id)).toEqual([...ROUTED.slice(1), 'gpt']);
    expect(await anthropicFailure(limited.models.retrieve('claude'))).toMatchObject({ status: 404 });
  });

  it('refuses bad paging queries and a wrong key in Anthropic\'s shape, naming the parameter', async () => {
    expect(await anthropicFailure(anthropic.models.list({ limit: 0 }))).toMatchObject({ status: 400, type: 'invalid_request_error', message: 'limit: Input should be an integer from 1 to 1000, got "0"' });
    expect(await anthropicFailure(anthropic.models.list({ after_id: 'nope' }))).toMatchObject({ status: 400, message: 'after_id: "nope" is not a model of this list' });
    expect(await anthropicFailure(anthropic.models.list({ after_id: 'claude', before_id: 'gpt' }))).toMatchObject({ status: 400, message: 'give after_id or before_id, not both' });
    const stranger = new Anthropic({ baseURL: gw.url, apiKey: 'sk-not-a-key-of-this-gateway', maxRetries: 0 });
    expect(await anthropicFailure(stranger.models.list())).toMatchObject({ status: 401, type: 'authentication_error' });
    // Without anthropic-version the same refusal is OpenAI's shape.
    const r = await fetch(`${gw.url}/v1/models?limit=0`, { headers: { authorization: 'Bearer sk-not-a-key-of-this-gateway' } });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: { type: 'authentication_error', code: 'invalid_api_key' } });
  });
});
