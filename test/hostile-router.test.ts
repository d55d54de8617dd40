// Hostile .router files (issue 14): whatever the bytes, loading either succeeds with a router whose
// scores are finite probabilities, or fails with a coded RoutecoreError. From the CLI, `info
// --router` and `route --router` exit 1 with the code in brackets: never a signal, a hang or a
// wrong score.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { RoutecoreError } from '../src/errors.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping the CLI part of the hostile-router tests: ${cli} is missing (run \`npm run build:ts\`)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const META = '"__metadata__":{"format":"routecore.router","format_version":"1","encoder":"precomputed","encoder.dim":"4","predictor":"linear","predictor.outputs":"1"}';

/** A file with this header text and data section. */
function fileOf(header: string, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(header);
  const f = new Uint8Array(8 + h.length + body.length);
  new DataView(f.buffer).setBigUint64(0, BigInt(h.length), true);
  f.set(h, 8);
  f.set(body, 8 + h.length);
  return f;
}

/** The default router with value `index` of `tensor` replaced (F16 tensors: NaN or an infinity only). */
function withValue(bytes: Uint8Array, tensor: string, index: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes); // not Buffer#slice, which would share the memory
  const view = new DataView(copy.buffer);
  const hlen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(copy.subarray(8, 8 + hlen))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const t = header[tensor]!;
  const at = 8 + hlen + t.data_offsets[0];
  if (t.dtype === 'F32') view.setFloat32(at + 4 * index, value, true);
  else view.setUint16(at + 2 * index, Number.isNaN(value) ? 0x7e00 : value > 0 ? 0x7c00 : 0xfc00, true);
  return copy;
}

const defaultBytes = readFileSync(join(root, 'models', 'default.router'));

// name -> [bytes, what the message must say]
const hostile: Record<string, [Uint8Array, RegExp]> = {
  'offsets-2to64': [
    fileOf(`{"linear.weight":{"dtype":"F32","shape":[1024],"data_offsets":[18446744073709547520,18446744073709551616]},${META}}`, new Uint8Array(4096)),
    /tensor "linear\.weight" has bad data_offsets/,
  ],
  'offsets-nan': [fileOf(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-nan,4]},${META}}`, new Uint8Array(4)), /malformed JSON header at byte \d+: bad number/],
  'shape-wraps': [fileOf(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]},${META}}`), /tensor "w" has a shape that needs more than/],
  'number-1e999': [fileOf(`{"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,0]},${META}}`), /outside the range of a double/],
  'deep-nesting': [fileOf(`{"x":${'['.repeat(200)}${']'.repeat(200)},${META}}`), /nesting deeper than 64/],
  'duplicate-key': [fileOf(`{"w":{},"w":{},${META}}`), /duplicate key "w"/],
  'lone-surrogate': [fileOf(`{"\\ud800":{},${META}}`), /unpaired high surrogate/],
  'eight-bytes': [new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), /not a routecore router file \(only 8 bytes/],
  'empty': [new Uint8Array(0), /only 0 bytes/],
  'header-length-huge': [new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 123]), /no safetensors header of at most 16 MiB/],
  'nan-weight': [withValue(defaultBytes, 'mlp.table', 12345, NaN), /tensor "mlp\.table" holds NaN at index 12345/],
  'inf-bias': [withValue(defaultBytes, 'mlp.out_bias', 1, -Infinity), /tensor "mlp\.out_bias" holds an infinity at index 1/],
  'huge-weight': [withValue(defaultBytes, 'mlp.out_weight', 0, 1e30), /tensor "mlp\.out_weight" holds 1000000015047466219876688855040/],
  'inf-f16-table': [withValue(defaultBytes, 'mlp.table', 7, Infinity), /tensor "mlp\.table" holds an infinity at index 7/],
  'cut-in-half': [defaultBytes.subarray(0, defaultBytes.length >> 1), /truncated/],
};

function run(args: string[]) {
  // A loaded 2-core machine: start-up alone can take seconds, so the timeout is generous.
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

describe('hostile router files', () => {
  it('each is refused in-process with ERR_ROUTECORE_BAD_ARTIFACT and a message naming the fault', () => {
    for (const [name, [bytes, message]] of Object.entries(hostile)) {
      let err: unknown;
      try {
        Router.loadSync(bytes).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(RoutecoreError);
      expect((err as RoutecoreError).code, name).toBe('ERR_ROUTECORE_BAD_ARTIFACT');
      expect((err as RoutecoreError).message, name).toMatch(message);
    }
  });

  it.skipIf(!built)('the CLI exits 1 with the coded error for info --router and route --router', () => {
    // A subset: every spawn is a Node start-up on a shared machine.
    for (const name of ['offsets-2to64', 'nan-weight', 'deep-nesting', 'eight-bytes', 'shape-wraps']) {
      const path = join(tmp, `${name}.router`);
      writeFileSync(path, hostile[name]![0]);
      for (const args of [['info', '--router', path], ['route', '--router', path, 'hello']]) {
        const r = run(args);
        expect(r.signal, `${name} ${args[0]}`).toBeNull();
        expect(r.code, `${name} ${args[0]}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toContain(path);
        expect(r.stderr).toMatch(hostile[name]![1]);
        expect(r.stderr).toMatch(/\[ERR_ROUTECORE_BAD_ARTIFACT\]\n$/);
      }
    }
    const good = run(['info', '--router', join(root, 'models', 'default.router')]);
    expect(good.code, good.stderr).toBe(0);
  }, 600_000);

  it('random corruptions of small routers either load and score finite probabilities or fail with a code', async () => {
    const records = [];
    for (let i = 0; i < 40; i++) {
      records.push({ id: `m${i}`, prompt: `compute ${i} plus ${i * 3}`, scores: { a: 1, b: 0 } });
      records.push({ id: `h${i}`, prompt: `which king ruled in ${1000 + i}`, scores: { a: 0, b: 1 } });
    }
    const encoder = { log2Buckets: 8 };
    const routers = [
      (await train(records, { hidden: 4, maxEpochs: 2, encoder })).router,
      (await train(records, { predictor: 'knn', k: 3, dim: 8, encoder })).router,
      (await train(records, { predictor: 'kmeans', clusters: 3, encoder })).router,
    ];
    // A deterministic generator: the same mutants on every run.
    let s = 0x9e3779b9;
    const rand = (n: number) => {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return s % n;
    };
    const codes = new Map<string, number>();
    let loaded = 0;
    for (const router of routers) {
      const bytes = router.serialize();
      router.dispose();
      const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      for (let m = 0; m < 150; m++) {
        const copy = Uint8Array.from(bytes);
        let mutant: Uint8Array = copy;
        const kind = rand(4);
        if (kind === 0) copy[8 + rand(hlen)] = rand(256); // header byte
        else if (kind === 1) copy[rand(copy.length)] ^= 1 << rand(8); // any bit
        else if (kind === 2) mutant = copy.subarray(0, rand(copy.length)); // truncation
        else for (let i = 0; i < 8; i++) copy[8 + hlen + rand(copy.length - 8 - hlen)] = rand(256); // body bytes
        try {
          const r = Router.loadSync(mutant, { backend: 'cpu' });
          loaded++;
          const d = r.routeSync('compute 5 plus 15');
          for (const v of Object.values(d.scores)) {
            expect(Number.isFinite(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(0);
            expect(v).toBeLessThanOrEqual(1);
          }
          r.dispose();
        } catch (err) {
          expect(err).toBeInstanceOf(RoutecoreError);
          const code = (err as RoutecoreError).code;
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      }
    }
    // Most mutants are refused as bad artifacts; a few corrupt only weights and still load.
    expect([...codes.keys()].every((c) => c === 'ERR_ROUTECORE_BAD_ARTIFACT' || c === 'ERR_ROUTECORE_ARTIFACT_VERSION')).toBe(true);
    expect(loaded + [...codes.values()].reduce((a, b) => a + b, 0)).toBe(450);
  });
});
