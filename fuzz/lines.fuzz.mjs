#!/usr/bin/env node
// A mutation fuzzer for the outcome and pairwise line parsers (src/training/data.ts). They are
// TypeScript, so libFuzzer cannot drive them; this does the same job in Node: it mutates the
// seed lines of fuzz/corpus/lines (byte flips, splices, JSON tokens, lone surrogates, huge and
// odd numbers, deep nesting) and requires of every input that the parser either returns a record
// that holds its invariants or throws RoutecoreError ERR_ROUTECORE_BAD_DATA naming file:line.
// Anything else (another exception, a record with a NaN score, a hang) is a finding.
// node fuzz/lines.fuzz.mjs [--seconds N] [--runs N] [--seed N]   (needs `npm run build:ts`)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { parseOutcomeLine, parsePairwiseLine } = await import(join(here, '..', 'dist', 'src', 'training', 'data.js'));
const { RoutecoreError } = await import(join(here, '..', 'dist', 'src', 'errors.js'));


export function makeLineFuzzer(seedLines, seed = 1) {
  let s = seed >>> 0 || 1;
  const rand = (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
  const tokens = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u', '\\ud800', '\\udc00', '\ud800', '\udfff', 'null', 'true', '-0', '1e999', 'NaN', '-1', '1.5', '0x10', '"prompt"', '"scores"', '"model_a"', '"winner"', '"tie"', '"costs"', '"id"', '"__proto__"', '"constructor"', '\u0000', '\u2028', '😀', ' '];
  const values = () => [null, true, 0, -0, 1, -1, 0.5, 1.0000001, 1e308, -1e308, 5e-324, '', 'x', '\ud800', '\udc00x', 'model_a', 'model_b', 'tie', 'tie (bothbad)', '__proto__', [], [1], {}, { a: 1 }, { '': 0.5 }, { __proto__: null, m: 2 }, 'y'.repeat(rand(100))][rand(27)];
  // Structural: valid JSON whose fields hold odd values, so the checks past JSON.parse are reached.
  const structural = (line) => {
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      return line;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return line;
    const keys = ['id', 'prompt', 'task', 'scores', 'costs', 'model_a', 'model_b', 'winner', ...Object.keys(obj)];
    const key = keys[rand(keys.length)];
    if (rand(3) === 0 && obj[key] && typeof obj[key] === 'object') {
      const inner = Object.keys(obj[key]);
      obj[key][inner.length && rand(2) ? inner[rand(inner.length)] : ['gpt', 'm', '', 'constructor'][rand(4)]] = values();
    } else if (rand(5) === 0) delete obj[key];
    else obj[key] = values();
    return JSON.stringify(obj);
  };
  const mutate = (line) => {
    if (rand(2) === 0) return structural(line);
    let t = line;
    const n = 1 + rand(4);
    for (let i = 0; i < n; i++) {
      const at = rand(t.length + 1);
      switch (rand(7)) {
        case 0: t = t.slice(0, at) + tokens[rand(tokens.length)] + t.slice(at); break;
        case 1: t = t.slice(0, at) + t.slice(at + 1 + rand(8)); break;
        case 2: t = t.slice(0, at) + String.fromCharCode(rand(0x10000)) + t.slice(at + 1); break;
        case 3: { const other = seedLines[rand(seedLines.length)]; const b = rand(other.length + 1); t = t.slice(0, at) + other.slice(b, b + rand(40)); break; }
        case 4: t = t.replace(/-?\d+(\.\d+)?/, ['1e308', '-1e-400', '2', '0.5', '1'.repeat(400), '-0'][rand(6)]); break;
        case 5: t = t.slice(0, at) + '['.repeat(rand(8) === 0 ? rand(3000) : rand(20)) + t.slice(at); break;
        default: t = t.slice(0, at) + t.slice(at).replace(/"[^"]*"/, JSON.stringify('x'.repeat(rand(8) === 0 ? rand(5000) : rand(50)))); break;
      }
    }
    return t;
  };
  return { mutate, rand };
}

export function checkLine(line) {
  for (const parse of [parseOutcomeLine, parsePairwiseLine]) {
    let rec;
    try {
      rec = parse(line, 'fuzz.jsonl', 7);
    } catch (err) {
      if (!(err instanceof RoutecoreError) || err.code !== 'ERR_ROUTECORE_BAD_DATA' || !err.message.startsWith('fuzz.jsonl:7: ')) {
        throw new Error(`finding: ${parse.name} threw ${err?.code ?? ''} ${err?.message ?? err} for ${JSON.stringify(line).slice(0, 300)}`);
      }
      continue;
    }
    if (typeof rec.prompt !== 'string' || rec.prompt === '' || typeof rec.id !== 'string') throw new Error(`finding: bad record from ${JSON.stringify(line).slice(0, 300)}`);
    if (rec.scores) {
      for (const v of Object.values(rec.scores)) if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new Error(`finding: score ${v} from ${JSON.stringify(line).slice(0, 300)}`);
    } else if (!['model_a', 'model_b', 'tie'].includes(rec.winner) || rec.modelA === rec.modelB) {
      throw new Error(`finding: bad battle from ${JSON.stringify(line).slice(0, 300)}`);
    }
  }
}

export function fuzzLines(seedLines, { seconds, runs, seed }) {
  const { mutate, rand } = makeLineFuzzer(seedLines, seed);
  const deadline = Date.now() + seconds * 1000;
  let executions = 0;
  let pool = [...seedLines];
  const started = Date.now();
  while ((runs === undefined || executions < runs) && (executions % 1024 !== 0 || Date.now() < deadline)) {
    const line = mutate(pool[rand(pool.length)]);
    checkLine(line);
    executions++;
    if (pool.length < 512 && line.length < 400 && rand(64) === 0) pool.push(line); // keep some mutants as new parents
  }
  return { executions, seconds: (Date.now() - started) / 1000 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, runs: { type: 'string' }, seed: { type: 'string', default: '1' } } });
  // Expected errors are most of the executions; their stack traces were half the time.
  Error.stackTraceLimit = 0;
  const dir = join(here, 'corpus', 'lines');
  const seeds = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8').trim());
  for (const s of seeds) checkLine(s);
  const r = fuzzLines(seeds, { seconds: Number(values.seconds), runs: values.runs ? Number(values.runs) : undefined, seed: Number(values.seed) });
  console.log(`lines: executions: ${r.executions} in ${r.seconds.toFixed(1)} s`);
}
