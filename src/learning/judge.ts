/**
 * The pairwise judge: a prompt template (data a user can replace), the prompt it builds, and a
 * robust parser of its verdict. The convention is MT-Bench's pairwise one (FastChat `llm_judge`):
 * the judge ends with `[[A]]` (assistant A's answer is better), `[[B]]` (B's) or `[[C]]` (a tie).
 * Each pair is judged twice, once in each order, to cancel the judge's position bias; see
 * {@link combineVerdicts} for how the two verdicts become one. docs/LEARNING.md shows the default
 * template in full.
 * @module
 */
import { readFileSync } from 'node:fs';

import { RoutecoreError, describe } from '../errors.js';

/** A pairwise judge template. Field names are FastChat's, so a `judge_prompts.jsonl` pairwise entry can be used as is. */
export interface JudgeTemplate {
  /** A name for logs (`default` for the built-in one). */
  name: string;
  /** The system message. */
  system_prompt: string;
  /** The user message, with the placeholders `{question}`, `{answer_a}` and `{answer_b}`. */
  prompt_template: string;
}

/**
 * The built-in template (written for routecore; the convention, not the text, is MT-Bench's). It asks
 * for a short reason first, because a verdict given before any reasoning is noisier, and for the
 * marker on the last line, where the parser looks when the reasoning quotes other markers.
 */
export const DEFAULT_JUDGE_TEMPLATE: Readonly<JudgeTemplate> = Object.freeze({
  name: 'default',
  system_prompt:
    'You are an impartial judge. Two AI assistants answered the same user request. Decide whose answer serves the user better, ' +
    'weighing correctness first, then helpfulness, relevance, completeness and clarity. The order in which the answers appear, ' +
    'their length and the assistants\' names must not influence you. Give a brief reason (at most three sentences), then write ' +
    'your verdict alone on the last line, exactly one of: [[A]] if assistant A\'s answer is better, [[B]] if assistant B\'s answer ' +
    'is better, [[C]] if they are equally good or equally bad.',
  prompt_template:
    '[User request]\n{question}\n\n[Start of assistant A\'s answer]\n{answer_a}\n[End of assistant A\'s answer]\n\n' +
    '[Start of assistant B\'s answer]\n{answer_b}\n[End of assistant B\'s answer]',
});

const PLACEHOLDERS = ['{question}', '{answer_a}', '{answer_b}'] as const;
const MARKERS = ['[[A]]', '[[B]]', '[[C]]'] as const;

function bad(message: string): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_CONFIG', message);
}

/**
 * Checks a template object; `source` names where it came from in messages (`judge.json`).
 * @throws ERR_ROUTECORE_BAD_CONFIG naming the field at fault
 */
export function checkJudgeTemplate(value: unknown, source: string): JudgeTemplate {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${source}: a judge template must be a JSON object with system_prompt and prompt_template, got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  if (v['type'] !== undefined && v['type'] !== 'pairwise') throw bad(`${source}: field "type" must be "pairwise" (routecore judges pairs), got ${describe(v['type'])}`);
  for (const f of ['system_prompt', 'prompt_template'] as const) {
    if (typeof v[f] !== 'string' || (v[f] as string).trim() === '') throw bad(`${source}: field "${f}" must be a non-empty string, got ${describe(v[f])}`);
  }
  const prompt = v['prompt_template'] as string;
  for (const p of PLACEHOLDERS) {
    if (!prompt.includes(p)) throw bad(`${source}: field "prompt_template" must contain the placeholder ${p} (placeholders: ${PLACEHOLDERS.join(', ')})`);
  }
  const both = `${v['system_prompt'] as string}\n${prompt}`;
  for (const m of MARKERS) {
    if (!both.includes(m)) throw bad(`${source}: the template never mentions ${m}; the judge must be told to answer [[A]], [[B]] or [[C]] (MT-Bench's pairwise convention)`);
  }
  const name = typeof v['name'] === 'string' && v['name'] !== '' ? v['name'] : source;
  return { name, system_prompt: v['system_prompt'] as string, prompt_template: prompt };
}

/**
 * Reads a template file: one JSON object, or a JSONL file whose first pairwise entry is used
 * (FastChat's `judge_prompts.jsonl` holds several; pass a file with the one you want first).
 */
export function loadJudgeTemplate(path: string): JudgeTemplate {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read the judge template ${path}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSONL: the first line that parses as a pairwise entry.
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (err) {
        throw bad(`${path}:${i + 1}: not valid JSON (${(err as Error).message.slice(0, 100)})`);
      }
      if (typeof obj === 'object' && obj !== null && ((obj as Record<string, unknown>)['type'] ?? 'pairwise') === 'pairwise') {
        value = obj;
        return checkJudgeTemplate(value, `${path}:${i + 1}`);
      }
    }
    throw bad(`${path}: no pairwise template in the file`);
  }
  return checkJudgeTemplate(value, path);
}

/** Fills the template; answers containing `{answer_b}` and the like are inserted verbatim, never re-expanded. */
export function judgeMessages(template: JudgeTemplate, question: string, answerA: string, answerB: string): { role: 'system' | 'user'; content: string }[] {
  const values: Record<string, string> = { '{question}': question, '{answer_a}': answerA, '{answer_b}': answerB };
  const content = template.prompt_template.replace(/\{question\}|\{answer_a\}|\{answer_b\}/g, (m) => values[m]!);
  return [
    { role: 'system', content: template.system_prompt },
    { role: 'user', content },
  ];
}

/** One judge call's verdict: which position won, a tie, or no readable verdict. */
export type RawVerdict = 'A' | 'B' | 'tie' | 'invalid';

const MARKER_RE = /\[\[\s*([ABC])\s*\]\]/gi;

/**
 * Reads a judge's answer. The rule (documented in docs/LEARNING.md):
 * 1. every marker in the text names the same verdict: that verdict;
 * 2. otherwise (the judge quoted the options in its reasoning), the last non-empty line holds exactly
 *    one marker: that one;
 * 3. otherwise, or with no marker at all: `invalid` (no record is written for the pair).
 * Markers are matched without regard to case or inner spaces (`[[ a ]]`).
 */
export function parseVerdict(text: unknown): RawVerdict {
  if (typeof text !== 'string' || text === '') return 'invalid';
  const all = [...text.matchAll(MARKER_RE)].map((m) => m[1]!.toUpperCase());
  if (all.length === 0) return 'invalid';
  const of = (c: string): RawVerdict => (c === 'A' ? 'A' : c === 'B' ? 'B' : 'tie');
  if (all.every((c) => c === all[0])) return of(all[0]!);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const last = lines[lines.length - 1] ?? '';
  const onLast = [...last.matchAll(MARKER_RE)].map((m) => m[1]!.toUpperCase());
  return onLast.length === 1 ? of(onLast[0]!) : 'invalid';
}

/** Who won a judged pair: the answer the client got (`served`), the comparison model's (`comparison`), or neither. */
export type PairVerdict = 'served' | 'comparison' | 'tie';

/**
 * Combines the two orders. Order 1 shows the served answer as A and the comparison as B; order 2
 * swaps them. Either verdict unreadable: `invalid` (no record). Both agree: that verdict. They
 * disagree (the judge followed the position, not the content, at least once): `tie`, as FastChat
 * counts inconsistent pairs.
 */
export function combineVerdicts(servedFirst: RawVerdict, servedSecond: RawVerdict): PairVerdict | 'invalid' {
  if (servedFirst === 'invalid' || servedSecond === 'invalid') return 'invalid';
  const one: PairVerdict = servedFirst === 'A' ? 'served' : servedFirst === 'B' ? 'comparison' : 'tie';
  const two: PairVerdict = servedSecond === 'B' ? 'served' : servedSecond === 'A' ? 'comparison' : 'tie';
  return one === two ? one : 'tie';
}

/** The text of a `chat.completion`'s first choice (string content, or the text parts of an array), or undefined when it has none. */
export function completionText(response: unknown): string | undefined {
  const choices = (response as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices) || choices.length === 0) return undefined;
  const content = (choices[0] as { message?: { content?: unknown } } | null)?.message?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const parts = content.map((p) => (typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
    return parts;
  }
  return undefined;
}

/**
 * The question shown to the judge: the conversation as `User:` / `Assistant:` turns (system messages
 * as `System:`), so a follow-up is judged in its context. Non-text parts are shown as `[image]` etc.
 */
export function conversationText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  const turns: string[] = [];
  for (const m of messages) {
    if (typeof m !== 'object' || m === null) continue;
    const role = String((m as { role?: unknown }).role ?? 'user');
    const c = (m as { content?: unknown }).content;
    let text: string;
    if (typeof c === 'string') text = c;
    else if (Array.isArray(c)) text = c.map((p) => (typeof p === 'object' && p !== null ? (typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : `[${String((p as { type?: unknown }).type ?? 'part')}]`) : '')).join('');
    else continue;
    if (role === 'tool' || role === 'function') continue;
    const who = role === 'assistant' ? 'Assistant' : role === 'system' || role === 'developer' ? 'System' : 'User';
    turns.push(`${who}: ${text}`);
  }
  if (turns.length === 1 && turns[0]!.startsWith('User: ')) return turns[0]!.slice(6);
  return turns.join('\n\n');
}
