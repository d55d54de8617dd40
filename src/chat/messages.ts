/**
 * From an OpenAI chat-completions body to the text the router encodes, plus a prompt-token
 * estimate for pricing. The rule (measured in docs/CHAT.md, "Which text is encoded"):
 *
 * 1. Only user turns are encoded. System/developer prompts are excluded: they repeat across every
 *    request of an application, so they shift every decision the same way without telling prompts
 *    apart. Assistant and tool turns are excluded too: they are the model's own output, not the
 *    difficulty of what is asked.
 * 2. The last user turn is always encoded. When it is short (under {@link CONTEXT_TRIGGER_CHARS},
 *    a follow-up such as "and in Python?"), earlier user turns are prepended, newest first, until the
 *    text reaches {@link CONTEXT_BUDGET_CHARS}; a follow-up is only as hard as what it follows.
 * 3. Text over `maxChars` (default {@link DEFAULT_MAX_CHARS}) is cut head-and-tail: the first quarter
 *    and the last three quarters of the budget are kept, joined by `\n…\n`. Long inputs are mostly
 *    pasted material with the instruction at the end, sometimes at the start; the middle is the
 *    least informative part.
 *
 * The token estimate covers every turn the upstream will bill (all roles, content parts' text):
 * UTF-8 bytes / 4, the usual English ratio, plus 4 tokens of framing per message.
 * @module
 */
import { RoutecoreError, describe, invalidArgument } from '../errors.js';
import { estimateTokens, loneSurrogateFault } from '../routing/prompt.js';

/** A content part of a message (the text, image, audio and file parts the OpenAI API defines). */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } }
  | { type: 'file'; file: Record<string, unknown> }
  | { type: 'refusal'; refusal: string };

/** One turn of a chat-completions `messages` array. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
  [extra: string]: unknown;
}

/** An OpenAI chat-completions request body; fields other than `messages` pass through to the upstream. */
export interface ChatRequest {
  messages: ChatMessage[];
  model?: string;
  stream?: boolean;
  [field: string]: unknown;
}

/** What {@link chatText} derives from a request. */
export interface ChatText {
  /** The text the router encodes. */
  text: string;
  /** Estimated prompt tokens of the whole conversation (what the upstream bills). */
  promptTokens: number;
  /** Whether the head-and-tail rule cut the text. */
  truncated: boolean;
  /** Index in `messages` of the last user turn. */
  lastUser: number;
  /** How many user turns the text draws on. */
  userTurns: number;
}

/** Options of {@link chatText}. */
export interface ChatTextOptions {
  /** Longest text handed to the router, in UTF-16 units; longer text is cut head-and-tail. Default 8,000. */
  maxChars?: number;
}

/** A last user turn shorter than this (characters) is read with the turns before it. */
export const CONTEXT_TRIGGER_CHARS = 160;
/** Earlier user turns are added until the text reaches this many characters. */
export const CONTEXT_BUDGET_CHARS = 1000;
/** Default bound of the encoded text; past this the hashing encoder learns little more (see docs/CHAT.md). */
export const DEFAULT_MAX_CHARS = 8000;
/** Tokens of framing the chat format adds per message (role markers), for the estimate. */
const TOKENS_PER_MESSAGE = 4;
/** Messages processed per slice by {@link chatTextAsync} before it yields to the event loop. */
const MESSAGES_PER_SLICE = 512;

const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const SEPARATOR = '\n…\n';

/** Validates `request` as a chat-completions body: an object whose `messages` is a non-empty array. */
export function checkChatRequest(request: unknown, name = 'request'): asserts request is ChatRequest {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw invalidArgument(name, 'a chat-completions request object with messages', request);
  const messages = (request as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) throw invalidArgument(`${name}.messages`, 'an array of chat messages', messages);
  if (messages.length === 0) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${name}.messages is empty: a conversation needs at least one user turn`);
}

/** Set by {@link contentText}: how many non-text parts (images, audio, files) the content it last read had. */
let contentMedia = 0;

/**
 * Prompt tokens counted per image, audio or file part in the estimate (their bytes are not text):
 * OpenAI bills an image 85 tokens at low detail and up to about 1,100 at high detail, Anthropic up to
 * about 1,600; a middle figure keeps a picture from counting as nothing (its base64 as text would count
 * it as tens of thousands).
 */
export const MEDIA_PART_TOKENS = 1000;

/** The text of one message's content, validating it; `field` names it in errors (`messages[2].content`). */
function contentText(content: unknown, field: string, role: string): string {
  contentMedia = 0;
  if (content === undefined || content === null) {
    // Assistant turns that only call tools carry no content.
    if (role === 'assistant' || role === 'function') return '';
    throw invalidArgument(field, 'a string or an array of content parts', content);
  }
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidArgument(field, 'a string or an array of content parts', content);
  let out = '';
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as Record<string, unknown> | null;
    const pf = `${field}[${i}]`;
    if (typeof part !== 'object' || part === null) throw invalidArgument(pf, 'a content part object with a type', part);
    const type = part['type'];
    if (type === 'text') {
      const t = part['text'];
      if (typeof t !== 'string') throw invalidArgument(`${pf}.text`, 'a string', t);
      out = out === '' ? t : out + '\n' + t;
    } else if (type === 'refusal') {
      const t = part['refusal'];
      if (typeof t !== 'string') throw invalidArgument(`${pf}.refusal`, 'a string', t);
    } else if (type === 'image_url' || type === 'input_audio' || type === 'file') {
      contentMedia++;
    } else {
      throw invalidArgument(`${pf}.type`, '"text", "image_url", "input_audio", "file" or "refusal"', type);
    }
  }
  return out;
}

/** Whitespace only (or nothing) — the test that refuses empty turns. */
function blank(s: string): boolean {
  return !/\S/.test(s);
}

/** Scratch state of one pass over the messages. */
interface Scan {
  /** Every user turn's text; `media`: the turn also holds an image, audio or a file. */
  userTexts: { index: number; text: string; media: boolean }[];
  /** System and developer turns' text, read only when the user turns give no text to route on. */
  systemTexts: string[];
  bytes: number;
  /** Image, audio and file parts, counted at {@link MEDIA_PART_TOKENS} each. */
  media: number;
}

function scanSlice(messages: readonly unknown[], from: number, to: number, name: string, scan: Scan): void {
  for (let i = from; i < to; i++) {
    const m = messages[i] as Record<string, unknown> | null;
    const field = `${name}[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalidArgument(field, 'a message object with role and content', m);
    const role = m['role'];
    if (typeof role !== 'string' || !ROLES.has(role)) throw invalidArgument(`${field}.role`, '"system", "developer", "user", "assistant", "tool" or "function"', role);
    const text = contentText(m['content'], `${field}.content`, role);
    // The routed turns are checked here, where the message can be named: the router would refuse
    // the joined text by its own index, which the client never sent.
    if ((role === 'user' || role === 'system' || role === 'developer') && !text.isWellFormed()) {
      throw new InvalidMessagesError(name, { index: i, fault: loneSurrogateFault(text) });
    }
    scan.bytes += Buffer.byteLength(text, 'utf8');
    scan.media += contentMedia;
    if (role === 'user') scan.userTexts.push({ index: i, text, media: contentMedia > 0 });
    else if ((role === 'system' || role === 'developer') && text !== '') scan.systemTexts.push(text);
  }
}

/**
 * A fault of the request's messages found while reading their text: nothing to route on (no user
 * turn, an empty last one) or a routed turn that is not valid Unicode. The gateway answers it as
 * `invalid_messages` naming them (ERR_ROUTECORE_INVALID_ARGUMENT).
 */
export class InvalidMessagesError extends RoutecoreError {
  /** The message whose content is at fault (its index) and what is wrong with it; undefined when the fault is the whole list. */
  readonly content: { readonly index: number; readonly fault: string } | undefined;
  /** The request field at fault, for an error body's `param`: `messages`, or the client's own field once {@link naming} gave it. */
  readonly param: string;

  /**
   * `messages` names the list; with `content`, the message reads `<messages>[<index>].content <fault>`,
   * else `<messages> <fault>` where `content` is the fault itself.
   */
  constructor(messages: string, content: { index: number; fault: string } | string, param = 'messages') {
    const at = typeof content === 'string' ? undefined : content;
    super('ERR_ROUTECORE_INVALID_ARGUMENT', at === undefined ? `${messages} ${content as string}` : `${messages}[${at.index}].content ${at.fault}`);
    this.content = at;
    this.param = param;
  }

  /**
   * The same fault naming `path` for the message's content: the field the client sent, where a face
   * translated its body into these messages (an Anthropic `system` shifts every index by one). A
   * fault of the whole list is returned as it is.
   */
  naming(path: string): InvalidMessagesError {
    if (this.content === undefined) return this;
    // param: the top-level field (`input[3].content` -> `input`), as the translations' own errors name it.
    return new InvalidMessagesError(path, this.content.fault, /^[^.[]+/.exec(path)![0]);
  }
}

function finish(scan: Scan, count: number, name: string, maxChars: number): ChatText {
  const users = scan.userTexts;
  if (users.length === 0) throw new InvalidMessagesError(name, 'has no user turn: nothing to route');
  const last = users[users.length - 1]!;
  if (blank(last.text) && !last.media) {
    throw new InvalidMessagesError(name, { index: last.index, fault: `is empty or whitespace only (the last user turn, got ${describe(last.text)}): nothing to route` });
  }
  let text = last.text;
  let turns = 1;
  if (text.length < CONTEXT_TRIGGER_CHARS) {
    for (let k = users.length - 2; k >= 0 && text.length < CONTEXT_BUDGET_CHARS; k--) {
      const earlier = users[k]!.text;
      if (blank(earlier)) continue;
      const room = CONTEXT_BUDGET_CHARS - text.length;
      // Keep the end of an earlier turn: it is what the follow-up follows.
      const piece = earlier.length > room ? safeSlice(earlier, earlier.length - room, earlier.length) : earlier;
      text = text === '' ? piece : piece + '\n' + text;
      turns++;
    }
  }
  if (blank(text)) {
    // The last user turn is only an image, audio or a file ("what is in this picture?" said by the
    // picture), and no earlier user turn has text: route on the instructions, else on the kind of input.
    const system = scan.systemTexts.join('\n');
    text = blank(system) ? '(an image, audio or a file with no text)' : system.length > CONTEXT_BUDGET_CHARS ? safeSlice(system, 0, CONTEXT_BUDGET_CHARS) : system;
  }
  let truncated = false;
  if (text.length > maxChars) {
    text = headAndTail(text, maxChars);
    truncated = true;
  }
  const promptTokens = estimateTokens(scan.bytes) + TOKENS_PER_MESSAGE * count + MEDIA_PART_TOKENS * scan.media;
  return { text, promptTokens, truncated, lastUser: last.index, userTurns: turns };
}

function checkMaxChars(options: ChatTextOptions | undefined): number {
  if (options === undefined) return DEFAULT_MAX_CHARS;
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const v = options.maxChars;
  if (v === undefined) return DEFAULT_MAX_CHARS;
  if (!Number.isInteger(v) || v < 64 || v > 200_000) throw invalidArgument('options.maxChars', 'an integer from 64 to 200000', v);
  return v;
}

/**
 * The router's text for a chat request, synchronously. Refuses (ERR_ROUTECORE_INVALID_ARGUMENT,
 * naming the field) a request without messages, a malformed turn, a conversation without a user turn
 * and an empty or whitespace-only last user turn.
 */
export function chatText(request: unknown, options?: ChatTextOptions): ChatText {
  const maxChars = checkMaxChars(options);
  checkChatRequest(request);
  const messages = request.messages;
  const scan: Scan = { userTexts: [], systemTexts: [], bytes: 0, media: 0 };
  scanSlice(messages, 0, messages.length, 'messages', scan);
  return finish(scan, messages.length, 'messages', maxChars);
}

/**
 * {@link chatText} for the async paths: long conversations are read in slices of 512 messages with a
 * turn of the event loop between slices, so one huge request does not stall other requests.
 */
export async function chatTextAsync(request: unknown, options?: ChatTextOptions): Promise<ChatText> {
  const maxChars = checkMaxChars(options);
  checkChatRequest(request);
  const messages = request.messages;
  const scan: Scan = { userTexts: [], systemTexts: [], bytes: 0, media: 0 };
  for (let from = 0; from < messages.length; from += MESSAGES_PER_SLICE) {
    if (from > 0) await new Promise<void>((r) => setImmediate(r));
    scanSlice(messages, from, Math.min(messages.length, from + MESSAGES_PER_SLICE), 'messages', scan);
  }
  return finish(scan, messages.length, 'messages', maxChars);
}

/** `s.slice(a, b)` that never splits a surrogate pair. */
function safeSlice(s: string, a: number, b: number): string {
  const isLow = (i: number) => i > 0 && i < s.length && (s.charCodeAt(i) & 0xfc00) === 0xdc00 && (s.charCodeAt(i - 1) & 0xfc00) === 0xd800;
  if (isLow(a)) a++;
  if (isLow(b)) b--;
  return s.slice(a, b);
}

/** The head-and-tail cut of rule 3: the first quarter and last three quarters of `max` characters. */
export function headAndTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const budget = max - SEPARATOR.length;
  const head = Math.floor(budget / 4);
  const tail = budget - head;
  return safeSlice(text, 0, head) + SEPARATOR + safeSlice(text, text.length - tail, text.length);
}
