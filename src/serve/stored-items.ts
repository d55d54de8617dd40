/**
 * The output items routecore wrote itself on a face whose clients refer back to them (the Responses
 * API's `item_reference`: the AI SDK's default `store: true` sends the assistant text of an earlier
 * answer as `{"type": "item_reference", "id": "msg_…"}`). OpenAI keeps the items its own upstreams
 * wrote; an answer translated from another wire (a chat or Anthropic model) exists nowhere but here.
 * The gateway keeps those items in the shared state for {@link ITEM_TTL_MS} (in Redis across
 * replicas and workers; per process without it, bounded by MemoryState's size cap) and puts each
 * referenced one it holds back in place before the request is routed.
 * @module
 */
import type { SharedState } from '../state/shared-state.js';
import type { Json } from '../wire/common.js';
import type { FaceItems } from './wire-faces.js';

/** How long an output item routecore wrote can be referred to: a conversation's next turn comes within it. */
export const ITEM_TTL_MS = 60 * 60_000;

const KEY_PREFIX = 'item:';

/**
 * `body` with the items the state holds in place of their references; `body` itself when it refers to
 * none of them (a reference left is an item only OpenAI holds: the face keeps the request to its
 * upstreams, or refuses it). A state that cannot be read leaves the references as they are.
 */
export async function expandReferences(items: FaceItems, body: unknown, state: SharedState, onError: (err: unknown) => void): Promise<unknown> {
  const ids = items.references(body);
  if (ids.length === 0) return body;
  const found = new Map<string, Json>();
  await Promise.all(
    [...new Set(ids)].map(async (id) => {
      try {
        const text = await state.getValue(KEY_PREFIX + id);
        if (text !== undefined) found.set(id, JSON.parse(text) as Json);
      } catch (err) {
        onError(err);
      }
    }),
  );
  return found.size === 0 ? body : items.expand(body as Json, found);
}

/** Keeps `minted` items by their ids for {@link ITEM_TTL_MS}; failing to keep one loses a later reference, never this answer. */
export function keepItems(minted: readonly Json[], state: SharedState, onError: (err: unknown) => void): void {
  for (const item of minted) {
    const id = item['id'];
    if (typeof id !== 'string' || id === '') continue;
    state.setValue(KEY_PREFIX + id, JSON.stringify(item), ITEM_TTL_MS).catch(onError);
  }
}
