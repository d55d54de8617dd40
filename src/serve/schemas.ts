/**
 * The gateway's request-body schemas (TypeBox, through fastify's type provider): fastify refuses a
 * body that does not fit before the handler runs, and the handler's `request.body` is typed from the
 * schema. The schemas say what shape a body has; the precise answer to a bad body (which field, what
 * was wrong, the stable `code`) is still the gateway's own check (`#parseChat`, {@link feedbackProblem}),
 * which the error handler runs on a refused body so the client reads the same message either way.
 * @module
 */
import { Type, TypeBoxValidatorCompiler, type Static } from '@fastify/type-provider-typebox';
import type { FastifySchemaCompiler } from 'fastify';

import { badRequest, type OpenAIErrorAnswer } from '../wire/openai.js';

/** One chat message as far as the gateway looks: an object with a role (content is the router's to read). */
const Message = Type.Object({ role: Type.String() });

/** `POST /v1/chat/completions`: an OpenAI chat-completions request; other fields pass through to the upstream. */
export const ChatBody = Type.Object({
  model: Type.Optional(Type.String()),
  messages: Type.Array(Message, { minItems: 1 }),
  stream: Type.Optional(Type.Boolean()),
});
export type ChatBody = Static<typeof ChatBody>;

/** `POST /v1/route`: a chat body, or `{prompt}` in place of `messages`. */
export const RouteBody = Type.Object({
  model: Type.Optional(Type.String()),
  messages: Type.Optional(Type.Array(Message, { minItems: 1 })),
  prompt: Type.Optional(Type.String()),
  stream: Type.Optional(Type.Boolean()),
});
export type RouteBody = Static<typeof RouteBody>;

/** `POST /v1/feedback`: `{id, score}` for an answered request. */
export const FeedbackBody = Type.Object({
  id: Type.String({ minLength: 1 }),
  score: Type.Number({ minimum: 0, maximum: 1 }),
});
export type FeedbackBody = Static<typeof FeedbackBody>;

/**
 * The validator of these routes: TypeBox's compiled checks, bodies never converted (a `"0.5"` score
 * or a `"true"` stream stays a refusal, as the OpenAI API answers them).
 */
export const validatorCompiler = TypeBoxValidatorCompiler as FastifySchemaCompiler<unknown>;

/** The answer to a bad feedback body, or undefined when it is a good one. */
export function feedbackProblem(body: unknown): OpenAIErrorAnswer | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return badRequest('invalid_body', 'the feedback body must be a JSON object {"id": "<x-request-id of the answer>", "score": 0..1}');
  }
  const { id, score } = body as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') return badRequest('invalid_id', `body.id must be the x-request-id of an answered request, got ${JSON.stringify(id) ?? 'nothing'}`, 'id');
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return badRequest('invalid_score', `body.score must be a number in [0, 1], got ${JSON.stringify(score) ?? 'nothing'}`, 'score');
  return undefined;
}
