/**
 * Routing of chat-completions requests: the text rule of ./messages.ts, then the router's own
 * `route`/`routeSync`, priced at the whole conversation's token estimate.
 * @module
 */
import { invalidArgument } from '../errors.js';
import type { Decision, RouteOptions, RouterCore } from '../routing/router.js';
import type { Registry } from '../routing/registry.js';
import { chatText, chatTextAsync, type ChatText } from './messages.js';

/** Options of `router.routeChat`: the routing knobs plus the encoded-text bound. */
export interface ChatRouteOptions extends RouteOptions {
  /** Longest text handed to the router (characters); longer text is cut head-and-tail. Default 8,000. */
  maxChars?: number;
}

/** A decision for a chat request, with what the text rule derived. */
export interface ChatDecision extends Decision {
  /** The text the router encoded. */
  text: string;
  /** Estimated prompt tokens of the whole conversation; `expectedCost` is priced at this. */
  promptTokens: number;
  /** Whether the head-and-tail rule cut the text. */
  truncated: boolean;
}

function split(options: ChatRouteOptions | undefined): { maxChars: number | undefined; route: RouteOptions } {
  if (options === undefined) return { maxChars: undefined, route: {} };
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const { maxChars, ...route } = options;
  return { maxChars, route };
}

function finish(d: Decision, t: ChatText, registry: Registry | undefined): ChatDecision {
  const out = d as ChatDecision;
  out.text = t.text;
  out.promptTokens = t.promptTokens;
  out.truncated = t.truncated;
  // The router priced the encoded text; the upstream bills the whole conversation.
  const priced = registry?.expectedCost(d.model, t.promptTokens);
  if (priced !== undefined) out.expectedCost = priced;
  return out;
}

/**
 * `router.routeChat`: micro-batched with other `route` calls; long conversations are read in slices.
 * `inline`: scored at once on the calling thread when the router can do that as cheaply as a batch
 * would ({@link RouterCore.scoresInline}), else batched as without it.
 */
export async function routeChat(router: RouterCore, request: unknown, options?: ChatRouteOptions, inline = false): Promise<ChatDecision> {
  const { maxChars, route } = split(options);
  const t = await chatTextAsync(request, maxChars === undefined ? undefined : { maxChars });
  const opts = { ...route, promptTokens: route.promptTokens ?? t.promptTokens };
  const d = inline && router.scoresInline(t.text) ? router.routeSync(t.text, opts) : await router.route(t.text, opts);
  return finish(d, t, router.registry);
}

/** `router.routeChatSync`: the whole request on the calling thread. */
export function routeChatSync(router: RouterCore, request: unknown, options?: ChatRouteOptions): ChatDecision {
  const { maxChars, route } = split(options);
  const t = chatText(request, maxChars === undefined ? undefined : { maxChars });
  const d = router.routeSync(t.text, { ...route, promptTokens: route.promptTokens ?? t.promptTokens });
  return finish(d, t, router.registry);
}
