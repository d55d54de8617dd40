/**
 * A body over the limit reaches the client as a 413 with its message, through the real OpenAI SDK and
 * Node's fetch, against `routecore serve` in its own process (in one process the client and server
 * share an event loop and the race that produced EPIPE does not show). Before the fix, a 48 MB body
 * against a 1 MiB limit ended as "Connection error." / "fetch failed" (EPIPE) in most runs (the race
 * decides which client loses; with the gateway's discard switched off at least one of these tests fails).
 */
import Anthropic from '@anthropic-ai/sdk';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = join(resolve(__dirname, '..'), 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping the 413 tests: ${cli} is missing (run \`npm run build:ts\`)`);

let dir: string;
let child: ChildProcess;
let url: string;
const LIMIT = 1024 * 1024;
const BIG = 'x'.repeat(48 * 1000 * 1000);
const MESSAGE = `the request body is over this gateway's limit of ${LIMIT} bytes`;

beforeAll(async () => {
  if (!built) return;
  dir = mkdtempSync(join(tmpdir(), 'routecore-413-'));
  writeFileSync(join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'big', baseUrl: 'http://127.0.0.1:9/v1' }, { id: 'small', baseUrl: 'http://127.0.0.1:9/v1' }] }));
  writeFileSync(join(dir, 'gateway.yaml'), `bodyLimitBytes: ${LIMIT}\nlog: {kind: none}\n`);
  child = spawn(process.execPath, [cli, 'serve', '--registry', join(dir, 'models.json'), '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', join(dir, 'gateway.yaml')], {
    env: { ...process.env, ROUTECORE_BACKEND: 'cpu' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) {
      url = m[1]!;
      break;
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  if (!built) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('413 for an oversized body', () => {
  it('reaches fetch as a 413 with the message', async () => {
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content: BIG }] }) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'body_too_large', message: MESSAGE });
  });

  it('reaches the OpenAI SDK as an APIError 413 (chat completions and responses), not a connection error', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: BIG }] }).catch((e) => e);
    expect(chat).toBeInstanceOf(OpenAI.APIError);
    expect(chat).not.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(chat.status).toBe(413);
    expect(chat.message).toContain(MESSAGE);
    const responses = await client.responses.create({ model: 'routecore', input: BIG }).catch((e) => e);
    expect(responses.status).toBe(413);
  });

  it('reaches the Anthropic SDK as a 413 request_too_large', async () => {
    const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
    const err = await client.messages.create({ model: 'routecore', max_tokens: 10, messages: [{ role: 'user', content: BIG }] }).catch((e) => e);
    expect(err.status).toBe(413);
    expect(err.error).toEqual({ type: 'error', error: { type: 'request_too_large', message: MESSAGE } });
  });

  it('keeps the connection usable after a refused body that was read to its end', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: BIG.slice(0, 2 * LIMIT) }] }) });
      expect(res.status).toBe(413);
      await res.arrayBuffer();
    }
    const ok = await fetch(`${url}/healthz`);
    expect(ok.status).toBe(200);
  });
});
