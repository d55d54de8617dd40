/**
 * Chat routing: the text rule, refusals with field names, the token estimate, the head-and-tail
 * cut, routeChat vs routeChatSync, and that large inputs are scored off the event loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CONTEXT_BUDGET_CHARS, DEFAULT_MAX_CHARS, MEDIA_PART_TOKENS, chatText, chatTextAsync, headAndTail } from '../src/chat/messages.js';
import { parseModelName } from '../src/chat/model-name.js';
import { RoutecoreError } from '../src/errors.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { caught } from './helpers/index.js';

let router: Router;
beforeAll(async () => {
  router = await Router.load('default');
});
afterAll(() => router.dispose());


describe('chatText: which text is encoded', () => {
  it('encodes the last user turn, without the system prompt or assistant/tool turns', () => {
    const long = 'Explain, with a worked example, how the Fast Fourier Transform reduces the cost of multiplying two polynomials of degree n from quadratic time to n log n time, and where the speed-up comes from.';
    const t = chatText({
      messages: [
        { role: 'system', content: 'You are a pirate.' },
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: '4' },
        { role: 'tool', content: '{"x":1}', tool_call_id: 't1' },
        { role: 'user', content: long },
      ],
    });
    expect(t.text).toBe(long);
    expect(t.lastUser).toBe(4);
    expect(t.userTurns).toBe(1);
    expect(t.truncated).toBe(false);
  });

  it('reads a short follow-up with the user turns before it, newest first, within the budget', () => {
    const t = chatText({
      messages: [
        { role: 'user', content: 'Write a function that merges two sorted arrays in TypeScript.' },
        { role: 'assistant', content: 'function merge(...) {...}' },
        { role: 'user', content: 'Now in Rust?' },
      ],
    });
    expect(t.text).toBe('Write a function that merges two sorted arrays in TypeScript.\nNow in Rust?');
    expect(t.userTurns).toBe(2);
    const many = chatText({ messages: [...Array.from({ length: 30 }, (_, i) => ({ role: 'user' as const, content: `question ${i} `.repeat(10) })), { role: 'user', content: 'why?' }] });
    expect(many.text.length).toBeLessThanOrEqual(CONTEXT_BUDGET_CHARS + 'question 29 '.length * 10 + 1);
    expect(many.text.endsWith('\nwhy?')).toBe(true);
  });

  it('joins the text parts of content-part messages and skips images', () => {
    const t = chatText({ messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text: 'Answer in French.' }] }] });
    expect(t.text).toBe('What is in this picture?\nAnswer in French.');
  });

  it('estimates prompt tokens over every turn the upstream bills', () => {
    const t = chatText({ messages: [{ role: 'system', content: 'x'.repeat(400) }, { role: 'user', content: 'y'.repeat(400) }] });
    // 800 bytes / 4 + 4 per message
    expect(t.promptTokens).toBe(208);
  });

  it('cuts over-long text head-and-tail: a quarter from the start, three quarters from the end', () => {
    const text = 'H'.repeat(10_000) + 'M'.repeat(10_000) + 'T'.repeat(10_000);
    const t = chatText({ messages: [{ role: 'user', content: text }] });
    expect(t.truncated).toBe(true);
    expect(t.text.length).toBe(DEFAULT_MAX_CHARS);
    const [head, tail] = t.text.split('\n…\n');
    expect(head).toBe('H'.repeat(Math.floor((DEFAULT_MAX_CHARS - 3) / 4)));
    expect(tail).toBe('T'.repeat(DEFAULT_MAX_CHARS - 3 - head!.length));
    expect(chatText({ messages: [{ role: 'user', content: text }] }, { maxChars: 100 }).text.length).toBe(100);
  });

  it('never splits a surrogate pair when cutting', () => {
    const s = '😀'.repeat(100);
    const cut = headAndTail(s, 51);
    expect(cut.isWellFormed()).toBe(true);
  });

  it('chatTextAsync (slices of messages) gives the same result as chatText', async () => {
    const messages = Array.from({ length: 2000 }, (_, i) => ({ role: i % 2 ? ('assistant' as const) : ('user' as const), content: `turn ${i}` }));
    expect(await chatTextAsync({ messages })).toEqual(chatText({ messages }));
  });
});

describe('chatText refusals name the field', () => {
  it.each([
    [{ messages: [] }, 'request.messages is empty: a conversation needs at least one user turn'],
    [{}, 'Expected an array of chat messages for request.messages but received undefined'],
    [null, 'Expected a chat-completions request object with messages for request but received null'],
    [{ messages: [{ role: 'system', content: 'hi' }] }, 'messages has no user turn: nothing to route'],
    [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: ' \n\t ' }] }, 'messages[2].content is empty or whitespace only (the last user turn, got string " \\n\\t "): nothing to route'],
    [{ messages: [{ role: 'user', content: [] }] }, 'messages[0].content is empty or whitespace only (the last user turn, got string ""): nothing to route'],
    [{ messages: [{ role: 'wizard', content: 'x' }] }, 'Expected "system", "developer", "user", "assistant", "tool" or "function" for messages[0].role but received string "wizard"'],
    [{ messages: [{ role: 'user', content: 42 }] }, 'Expected a string or an array of content parts for messages[0].content but received number 42'],
    [{ messages: [{ role: 'user', content: [{ type: 'text', text: 1 }] }] }, 'Expected a string for messages[0].content[0].text but received number 1'],
    [{ messages: [{ role: 'user', content: [{ type: 'video' }] }] }, 'Expected "text", "image_url", "input_audio", "file" or "refusal" for messages[0].content[0].type but received string "video"'],
    [{ messages: ['hi'] }, 'Expected a message object with role and content for messages[0] but received string "hi"'],
    // A routed turn that is not valid Unicode is named by its message (the router would name an index of the joined text).
    [{ messages: [{ role: 'system', content: 'ok' }, { role: 'user', content: 'ab' }, { role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'text', text: 'y\uDC00' }] }] }, 'messages[2].content contains a lone UTF-16 surrogate (0xdc00) at index 3: it is not valid Unicode text'],
    [{ messages: [{ role: 'developer', content: 'rules \uD800!' }, { role: 'user', content: 'hi' }] }, 'messages[0].content contains a lone UTF-16 surrogate (0xd800) at index 6: it is not valid Unicode text'],
  ])('%j', (request, message) => {
    const e = caught(() => chatText(request));
    expect(e).toBeInstanceOf(RoutecoreError);
    expect(e.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(e.message).toBe(message);
  });

  it('routes a last user turn that is only an image, audio or a file: on earlier user text, else the instructions, else the kind of input', () => {
    const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } };
    expect(chatText({ messages: [{ role: 'user', content: 'What breed is this dog?' }, { role: 'assistant', content: 'Show me.' }, { role: 'user', content: [image] }] }).text).toBe('What breed is this dog?');
    expect(chatText({ messages: [{ role: 'system', content: 'Extract all text from the image.' }, { role: 'user', content: [image] }] }).text).toBe('Extract all text from the image.');
    expect(chatText({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,AAAA' } }] }] }).text).toBe('(an image, audio or a file with no text)');
    // A turn with text and an image routes on its text, as before; the estimate counts the image (not its base64 as text).
    const both = chatText({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it.' }, image] }] });
    expect(both.text).toBe('Describe it.');
    expect(both.promptTokens).toBe(chatText({ messages: [{ role: 'user', content: 'Describe it.' }] }).promptTokens + MEDIA_PART_TOKENS);
  });

  it('rejects a bad maxChars', () => {
    expect(caught(() => chatText({ messages: [{ role: 'user', content: 'x' }] }, { maxChars: 3 })).message).toBe('Expected an integer from 64 to 200000 for options.maxChars but received number 3');
  });
});

describe('router.routeChat', () => {
  it('refuses an empty conversation with a coded error', async () => {
    await expect(router.routeChat({ messages: [{ role: 'user', content: '   ' }] })).rejects.toMatchObject({
      code: 'ERR_ROUTECORE_INVALID_ARGUMENT',
      message: 'messages[0].content is empty or whitespace only (the last user turn, got string "   "): nothing to route',
    });
    expect(() => router.routeChatSync({ messages: [] })).toThrow(/request.messages is empty/);
  });

  it('decides like route() on the encoded text and prices the whole conversation', async () => {
    const request = { messages: [{ role: 'system' as const, content: 'Be brief. '.repeat(200) }, { role: 'user' as const, content: 'Prove that the square root of 2 is irrational.' }] };
    const d = await router.routeChat(request);
    const plain = await router.route('Prove that the square root of 2 is irrational.');
    expect(d.model).toBe(plain.model);
    expect(d.scores).toEqual(plain.scores);
    expect(d.text).toBe('Prove that the square root of 2 is irrational.');
    expect(d.promptTokens).toBe(chatText(request).promptTokens);
    expect(d.expectedCost).toBeCloseTo(router.registry!.expectedCost(d.model, d.promptTokens)!, 12);
    expect(router.routeChatSync(request)).toMatchObject({ model: d.model, scores: d.scores, text: d.text, promptTokens: d.promptTokens });
  });

  it('passes routing options through', async () => {
    const d = await router.routeChat({ messages: [{ role: 'user', content: 'hello there' }] }, { policy: 'threshold', threshold: 0 });
    expect(d.policy).toBe('threshold');
    expect(d.model).toBe('strong');
  });
});

describe('large inputs do not block the event loop in route()', () => {
  it('a large prompt is scored on the addon thread: a callback queued after the call runs before it resolves', async () => {
    const big = 'The quick brown fox jumps over the lazy dog. '.repeat(4000);
    const order: string[] = [];
    const p = router.route(big).then(() => order.push('routed'));
    setImmediate(() => order.push('immediate'));
    await p;
    // The flush itself runs in a setImmediate queued before ours; on the calling thread the result
    // would resolve inside it, before 'immediate'. Scored off-thread, ours runs first.
    expect(order).toEqual(['immediate', 'routed']);
  });

  it('a small prompt still takes the calling-thread path (same order test, opposite result)', async () => {
    const order: string[] = [];
    const p = router.route('short prompt').then(() => order.push('routed'));
    setImmediate(() => order.push('immediate'));
    await p;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['routed', 'immediate']);
  });
});

describe('parseModelName', () => {
  const registry = Registry.fromObject({ models: [{ id: 'gpt-4o' }] });
  it.each([
    [undefined, { kind: 'routed', route: {} }],
    ['routecore', { kind: 'routed', route: {} }],
    ['routecore:cost:20', { kind: 'routed', route: { policy: 'cost', lambda: 20 } }],
    ['routecore:threshold:0.3', { kind: 'routed', route: { policy: 'threshold', threshold: 0.3 } }],
    ['routecore:subset:0.9', { kind: 'routed', route: { policy: 'subset', subset: { target: 0.9 } } }],
    ['routecore:best', { kind: 'routed', route: { policy: 'best' } }],
    ['gpt-4o', { kind: 'explicit', model: 'gpt-4o' }],
  ])('%s', (name, expected) => {
    expect(parseModelName(name, registry)).toEqual(expected);
  });
  it.each([
    ['routecore:fast', 'ERR_ROUTECORE_INVALID_ARGUMENT', 'model "routecore:fast" is not "routecore:<policy>[:<knob>]" with policy one of best, cost, threshold, subset'],
    ['routecore:threshold:2', 'ERR_ROUTECORE_INVALID_ARGUMENT', 'model "routecore:threshold:2": the threshold must be in [0, 1], got 2'],
    ['routecore:cost:abc', 'ERR_ROUTECORE_INVALID_ARGUMENT', 'model "routecore:cost:abc": the knob "abc" is not a number'],
    ['routecore:best:1', 'ERR_ROUTECORE_INVALID_ARGUMENT', 'model "routecore:best:1": the best policy takes no knob'],
    ['gpt-5', 'ERR_ROUTECORE_UNKNOWN_MODEL', 'model "gpt-5" is not routecore, routecore:<policy>[:<knob>] or a registry id (gpt-4o)'],
  ])('%s is refused', (name, code, message) => {
    const e = caught(() => parseModelName(name, registry));
    expect(e.code).toBe(code);
    expect(e.message).toBe(message);
  });
});
