/**
 * A minimal server-sent-events reader for OpenAI-style streams: `data:` lines, events separated by
 * a blank line, `\n`, `\r\n` or `\r` line ends, comments (`:`) ignored. Only `data` matters for chat
 * streams; `event`, `id` and `retry` fields are read past.
 * @module
 */

/** Splits a byte stream into the `data` payloads of its events, in order. */
export async function* sseData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let data: string[] = [];
  for await (const piece of body) {
    pending += typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
    let start = 0;
    for (;;) {
      let end = -1;
      let next = -1;
      for (let i = start; i < pending.length; i++) {
        const c = pending.charCodeAt(i);
        if (c === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (c === 13) {
          // A \r at the very end may be the first half of \r\n: wait for more bytes.
          if (i + 1 === pending.length) break;
          end = i;
          next = pending.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          break;
        }
      }
      if (end < 0) break;
      const line = pending.slice(start, end);
      start = next;
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
      }
      // other fields and comments are ignored
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending.startsWith('data:')) data.push(pending.charCodeAt(5) === 32 ? pending.slice(6) : pending.slice(5));
  if (data.length > 0) yield data.join('\n');
}
