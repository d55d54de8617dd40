/**
 * `routecore calibrate`: sets the threshold policy's τ so that a chosen share of your own traffic
 * goes to the strong model. It needs prompts only, no scores: each line of a --data file may be an
 * outcome record (`prompt`), an outcome-log line, a chat-completions body (`messages`, read with the
 * chat text rule), a JSON string, or plain text (one prompt per line).
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { chatText } from '../chat/messages.js';
import { RoutecoreError } from '../errors.js';
import type { RouterOptions } from '../routing/router.js';
import { Router } from '../app/router.js';

/** The prompts of a prompt-only traffic file; errors name the file and line. */
export function readPrompts(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read prompt file "${file}": ${(err as Error).message}`, { cause: err });
  }
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const at = `${file}:${i + 1}`;
    const first = line.trimStart()[0];
    if (first !== '{' && first !== '"') {
      out.push(line);
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${at}: the line starts like JSON but is not (${(err as Error).message.slice(0, 100)})`);
    }
    if (typeof v === 'string') {
      if (v.trim() === '') throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${at}: empty prompt`);
      out.push(v);
    } else if (typeof v === 'object' && v !== null && typeof (v as { prompt?: unknown }).prompt === 'string' && (v as { prompt: string }).prompt !== '') {
      out.push((v as { prompt: string }).prompt);
    } else if (typeof v === 'object' && v !== null && Array.isArray((v as { messages?: unknown }).messages)) {
      try {
        out.push(chatText(v).text);
      } catch (err) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${at}: ${(err as Error).message}`);
      }
    } else {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${at}: expected a prompt: an object with "prompt" or "messages", a JSON string, or plain text`);
    }
  }
  if (out.length === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${file}: no prompts (the file has no non-blank lines)`);
  return out;
}

/** The `calibrate` command; `usage` builds the CLI's usage error (exit code 2). */
export async function cmdCalibrate(args: string[], usage: (message: string) => Error): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      router: { type: 'string' },
      data: { type: 'string', multiple: true },
      'strong-share': { type: 'string' },
      strong: { type: 'string' },
      weak: { type: 'string' },
      out: { type: 'string' },
      half: { type: 'boolean' },
    },
  });
  if (!values.data?.length) throw usage('calibrate needs --data F (a sample of your prompts: JSONL with "prompt" or "messages", or plain text lines)');
  const raw = values['strong-share'];
  const share = raw === undefined ? undefined : Number(raw);
  if (share === undefined) throw usage('calibrate needs --strong-share S (0..1)');
  if (raw!.trim() === '' || !(share >= 0 && share <= 1)) throw usage(`--strong-share expects a number from 0 to 1, got "${raw}"`);
  if (!values.out) throw usage('calibrate needs --out R.router');
  if ((values.strong === undefined) !== (values.weak === undefined)) throw usage('calibrate takes --strong and --weak together');
  const options: RouterOptions = values.strong !== undefined ? { threshold: { strong: values.strong, weak: values.weak! } } : {};
  const router = Router.loadSync(values.router ?? 'default', options);
  try {
    const prompts = values.data.flatMap((f) => readPrompts(f));
    const tau = await router.calibrate(prompts, { strongShare: share });
    await router.save(values.out, { halfPrecision: values.half === true });
    const t = router.threshold;
    process.stderr.write(`threshold ${tau.toFixed(6)} sends ${(share * 100).toFixed(1)}% of ${prompts.length} prompts to ${t.strong} (weak: ${t.weak}); wrote ${values.out}\n`);
  } finally {
    router.dispose();
  }
}
