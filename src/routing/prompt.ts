/**
 * Prompt text on its way to the native scorer: the checks every text entry point makes (size,
 * well-formed Unicode), the UTF-8 packing the addon reads, and the one token estimate routecore
 * uses wherever no tokenizer is at hand.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';

/** Prompts are refused above this size (UTF-8 bytes); the native core enforces the same bound. */
export const MAX_PROMPT_BYTES = 256 * 1024;

/**
 * Rough UTF-8 bytes per token of English text: routecore's token estimate wherever no tokenizer is
 * at hand (pricing a prompt, estimating usage an upstream did not report, evaluation's accounting).
 */
export const BYTES_PER_TOKEN = 4;

/** Estimated tokens of `bytes` UTF-8 bytes of text: ⌈bytes / {@link BYTES_PER_TOKEN}⌉. */
export function estimateTokens(bytes: number): number {
  return Math.ceil(bytes / BYTES_PER_TOKEN);
}

/** Total UTF-16 length of the prompts (a cheap bound on their encoding work). */
export function totalLength(prompts: readonly string[]): number {
  let n = 0;
  for (const p of prompts) n += p.length;
  return n;
}

/** Checks one prompt; `name` is the argument named in errors. */
export function checkPrompt(prompt: unknown, name: string): asserts prompt is string {
  if (typeof prompt !== 'string' || prompt.length === 0) throw invalidArgument(name, 'a non-empty string', prompt);
  if (prompt.length > MAX_PROMPT_BYTES) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `${name} is ${prompt.length} characters, over the limit of ${MAX_PROMPT_BYTES} UTF-8 bytes`,
    );
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long prompts need their bytes counted here;
  // checking before queueing keeps one oversized prompt from failing its whole micro-batch.
  if (prompt.length * 3 > MAX_PROMPT_BYTES) {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > MAX_PROMPT_BYTES) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${name} is ${bytes} bytes of UTF-8, over the limit of ${MAX_PROMPT_BYTES}`);
    }
  }
  if (!prompt.isWellFormed()) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${name} ${loneSurrogateFault(prompt)}`);
}

/**
 * Why `text` (which `isWellFormed()` refused) is not valid Unicode: its first lone UTF-16 surrogate
 * and where, said after the name of the field or argument at fault.
 */
export function loneSurrogateFault(text: string): string {
  let at = 0;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c >= 0xd800 && c <= 0xdbff && at + 1 < text.length) {
      const d = text.charCodeAt(at + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        at++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) break;
  }
  return `contains a lone UTF-16 surrogate (0x${text.charCodeAt(at).toString(16)}) at index ${at}: it is not valid Unicode text`;
}

/** Checks an array of prompts, naming `prompts[i]` in errors. */
export function checkPrompts(prompts: unknown): asserts prompts is readonly string[] {
  if (!Array.isArray(prompts)) throw invalidArgument('prompts', 'an array of strings', prompts);
  for (let i = 0; i < prompts.length; i++) checkPrompt(prompts[i], `prompts[${i}]`);
}

/** Reusable UTF-8 packing of prompts into one buffer plus offsets (the addon's input format). */
export class PromptPacker {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private offsets = new Uint32Array(257);

  pack(prompts: readonly string[], names: (i: number) => string): { text: Buffer; offsets: Uint32Array } {
    let capacity = 0;
    for (const p of prompts) capacity += p.length * 3; // UTF-16 unit -> at most 3 UTF-8 bytes
    if (capacity > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(capacity, this.buf.length * 2));
    if (prompts.length + 1 > this.offsets.length) this.offsets = new Uint32Array(Math.max(prompts.length + 1, this.offsets.length * 2));
    let pos = 0;
    this.offsets[0] = 0;
    for (let i = 0; i < prompts.length; i++) {
      const written = this.buf.write(prompts[i]!, pos, 'utf8');
      if (written > MAX_PROMPT_BYTES) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_INVALID_ARGUMENT',
          `${names(i)} is ${written} bytes of UTF-8, over the limit of ${MAX_PROMPT_BYTES}`,
        );
      }
      pos += written;
      this.offsets[i + 1] = pos;
    }
    return { text: this.buf.subarray(0, pos), offsets: this.offsets };
  }

  /** A private copy for async calls, whose buffers must outlive the next pack(). */
  packOwned(prompts: readonly string[], names: (i: number) => string): { text: Buffer; offsets: Uint32Array } {
    const { text, offsets } = this.pack(prompts, names);
    return { text: Buffer.from(text), offsets: offsets.slice(0, prompts.length + 1) };
  }
}
