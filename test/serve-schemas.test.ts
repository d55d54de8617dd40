/**
 * The gateway's body schemas (src/serve/schemas.ts) with the validator the routes use: what they
 * refuse before a handler runs, that bodies are never converted, and that the precise feedback
 * answer names the field. The gateway's own answers to refused bodies are asserted in
 * test/serve-gateway.test.ts (unchanged messages).
 */
import { describe, expect, it } from 'vitest';

import { ChatBody, FeedbackBody, RouteBody, feedbackProblem, validatorCompiler } from '../src/serve/schemas.js';

type Check = (value: unknown) => { value?: unknown; error?: { instancePath: string }[] };
const check = (schema: unknown): Check => validatorCompiler({ schema, method: 'POST', url: '/x', httpPart: 'body' }) as unknown as Check;

describe('gateway body schemas', () => {
  const chat = check(ChatBody);
  const route = check(RouteBody);
  const feedback = check(FeedbackBody);
  const messages = [{ role: 'user', content: 'hi' }];

  it('accept a chat body with extra fields (they pass through to the upstream)', () => {
    expect(chat({ model: 'routecore', messages, temperature: 0.2, stream: true }).error).toBeUndefined();
    expect(route({ prompt: 'hi' }).error).toBeUndefined();
    expect(feedback({ id: 'rc-1', score: 0.5 }).error).toBeUndefined();
  });

  it.each([
    ['not an object', [1]],
    ['no messages', { model: 'routecore' }],
    ['empty messages', { messages: [] }],
    ['messages as a string', { messages: 'hi' }],
    ['a message without a role', { messages: [{ content: 'hi' }] }],
    ['a numeric model', { model: 5, messages }],
    ['stream as a string (never converted)', { messages, stream: 'true' }],
  ])('refuse a chat body: %s', (_name, body) => {
    expect(chat(body).error?.length).toBeGreaterThan(0);
  });

  it('refuse feedback without converting strings', () => {
    expect(feedback({ id: 'rc-1', score: '0.5' }).error?.[0]?.instancePath).toBe('/score');
    expect(feedback({ id: '', score: 1 }).error?.[0]?.instancePath).toBe('/id');
    expect(feedback({ id: 'rc-1', score: 1.5 }).error?.[0]?.instancePath).toBe('/score');
  });

  it('the precise feedback answer names the field', () => {
    expect(feedbackProblem({ id: 'rc-1', score: '0.5' })?.body().error).toMatchObject({ code: 'invalid_score', param: 'score', message: 'body.score must be a number in [0, 1], got "0.5"' });
    expect(feedbackProblem([])?.body().error).toMatchObject({ code: 'invalid_body', param: null });
    expect(feedbackProblem({ id: 'rc-1', score: 0 })).toBeUndefined();
  });
});
