/**
 * The results scripts' disk cache of out-of-fold and test scores, keyed by what was trained on
 * which records and what it scored (`oofKey`) **and by the code that did it**: the cache lives in a
 * sub-folder named by a fingerprint of the compiled library (`dist/src/**.js`) and the native addon
 * (`build/Release/routecore.node`), so a change to the trainer, the encoders, the evaluation or the
 * native code cannot serve figures computed by the code before it. Delete the folder for a cold run.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import type { OofCache } from '../src/training/auto.js';

/** Every file under `dir` whose name ends with `suffix`, sorted (paths relative to `dir`). */
function filesUnder(dir: string, suffix: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(suffix)) out.push(relative(dir, p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * SHA-256 (hex, first 16 digits) over the compiled library and the native addon of the package at
 * `root`: each file's relative path and bytes. Any change to either gives another fingerprint.
 */
export function codeFingerprint(root: string): { id: string; files: number } {
  const h = createHash('sha256');
  const lib = join(root, 'dist', 'src');
  const parts = filesUnder(lib, '.js').map((f) => [join('dist/src', f), join(lib, f)] as const);
  const addon = join(root, 'build', 'Release', 'routecore.node');
  if (existsSync(addon)) parts.push(['build/Release/routecore.node', addon]);
  for (const [name, path] of parts) {
    h.update(name + '\0');
    h.update(readFileSync(path));
    h.update('\0');
  }
  return { id: h.digest('hex').slice(0, 16), files: parts.length };
}

/** Scores on disk, one file per key (`<key>.bin`: header length, model ids as JSON, float32 scores). */
export class DiskCache implements OofCache {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  get(key: string): { models: string[]; scores: Float32Array } | undefined {
    const f = join(this.dir, `${key}.bin`);
    if (!existsSync(f)) return undefined;
    const buf = readFileSync(f);
    const hl = buf.readUInt32LE(0);
    const models = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as string[];
    const body = buf.subarray(4 + hl);
    const scores = new Float32Array(body.byteLength / 4);
    new Uint8Array(scores.buffer).set(body);
    return { models, scores };
  }
  set(key: string, value: { models: string[]; scores: Float32Array }): void {
    const head = Buffer.from(JSON.stringify(value.models), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length, 0);
    const tmp = join(this.dir, `${key}.tmp${process.pid}`);
    writeFileSync(tmp, Buffer.concat([len, head, Buffer.from(value.scores.buffer, value.scores.byteOffset, value.scores.byteLength)]));
    renameSync(tmp, join(this.dir, `${key}.bin`));
  }
}

/** The cache of the code at `root`: `<base>/<fingerprint>` (see {@link codeFingerprint}). */
export function codeKeyedCache(base: string, root: string): { cache: DiskCache; fingerprint: string; files: number } {
  const fp = codeFingerprint(root);
  return { cache: new DiskCache(join(base, fp.id)), fingerprint: fp.id, files: fp.files };
}
