import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { modelIdsOf, parseOutcomeLine, parsePairwiseLine, readOutcomes, readPairwise } from '../src/training/data.js';
import { caught, fixturePath } from './helpers/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const fx = fixturePath;
const dataDir = path.resolve(repoRoot, '../shared/data');
const hasData = existsSync(dataDir);
if (!hasData) console.warn(`[data.test] ${dataDir} is absent: skipping the tests over the real data files`);

function expectBadLine(line: string, message: string): void {
  const err = caught(() => parseOutcomeLine(line, 'data.jsonl', 3));
  expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
  expect(err.message).toBe(message);
}

describe('parseOutcomeLine', () => {
  it('parses a full record', () => {
    const r = parseOutcomeLine(
      '{"id": "gsm8k-17", "task": "gsm8k", "prompt": "2+2?", "scores": {"model-a": 1, "model-b": 0.4}, "costs": {"model-a": 0.0031}}',
      'data.jsonl',
      1,
    );
    expect(r).toEqual({ id: 'gsm8k-17', task: 'gsm8k', prompt: '2+2?', scores: { 'model-a': 1, 'model-b': 0.4 }, costs: { 'model-a': 0.0031 } });
  });

  it('derives a missing id from the file name and line, and accepts numeric ids', () => {
    expect(parseOutcomeLine('{"prompt": "p", "scores": {"a": 0}}', '/some/dir/data.jsonl', 12).id).toBe('data.jsonl:12');
    expect(parseOutcomeLine('{"id": 5, "prompt": "p", "scores": {"a": 0}}', 'data.jsonl', 1).id).toBe('5');
  });

  it('keeps extra fields out of the record', () => {
    const r = parseOutcomeLine('{"prompt": "p", "scores": {"a": 0}, "meta": {"x": 1}}', 'd.jsonl', 1);
    expect(Object.keys(r)).toEqual(['id', 'prompt', 'scores']);
  });

  it.each<[string, string, string]>([
    ['invalid JSON', '{"prompt": ', 'data.jsonl:3: not valid JSON (Unexpected end of JSON input)'],
    ['a non-object', '[1, 2]', 'data.jsonl:3: expected a JSON object, got array of length 2'],
    ['a missing prompt', '{"scores": {"a": 1}}', 'data.jsonl:3: missing "prompt" (a non-empty string)'],
    ['an empty prompt', '{"prompt": "", "scores": {"a": 1}}', 'data.jsonl:3: "prompt" must be a non-empty string, got string ""'],
    ['a numeric prompt', '{"prompt": 3, "scores": {"a": 1}}', 'data.jsonl:3: "prompt" must be a non-empty string, got number 3'],
    ['a bad id', '{"id": true, "prompt": "p", "scores": {"a": 1}}', 'data.jsonl:3: "id" must be a non-empty string or a number, got boolean true'],
    ['a bad task', '{"task": 1, "prompt": "p", "scores": {"a": 1}}', 'data.jsonl:3: "task" must be a string, got number 1'],
    ['missing scores', '{"prompt": "p"}', 'data.jsonl:3: missing "scores" (an object of model id -> number)'],
    ['scores as an array', '{"prompt": "p", "scores": [1]}', 'data.jsonl:3: "scores" must be an object of model id -> number, got array of length 1'],
    ['empty scores', '{"prompt": "p", "scores": {}}', 'data.jsonl:3: "scores" is empty; need the score of at least one model'],
    ['an empty model id', '{"prompt": "p", "scores": {"": 1}}', 'data.jsonl:3: "scores" has an empty model id'],
    ['a score above 1', '{"prompt": "p", "scores": {"gpt-4": 1.5}}', 'data.jsonl:3: scores["gpt-4"] = 1.5 is outside [0,1]'],
    ['a negative score', '{"prompt": "p", "scores": {"gpt-4": -0.1}}', 'data.jsonl:3: scores["gpt-4"] = -0.1 is outside [0,1]'],
    ['a string score', '{"prompt": "p", "scores": {"gpt-4": "1"}}', 'data.jsonl:3: scores["gpt-4"] must be a number, got string "1"'],
    ['a null score', '{"prompt": "p", "scores": {"gpt-4": null}}', 'data.jsonl:3: scores["gpt-4"] must be a number, got null'],
    ['costs not an object', '{"prompt": "p", "scores": {"x": 1}, "costs": 3}', 'data.jsonl:3: "costs" must be an object of model id -> non-negative number, got number 3'],
    ['a negative cost', '{"prompt": "p", "scores": {"x": 1}, "costs": {"x": -1}}', 'data.jsonl:3: costs["x"] = -1 must be a non-negative number'],
    ['a string cost', '{"prompt": "p", "scores": {"x": 1}, "costs": {"x": "1"}}', 'data.jsonl:3: costs["x"] = string "1" must be a non-negative number'],
    ['a cost for an unscored model', '{"prompt": "p", "scores": {"x": 1}, "costs": {"y": 0.1}}', 'data.jsonl:3: costs["y"] names a model that has no entry in "scores"'],
  ])('rejects %s', (_name, line, message) => {
    expectBadLine(line, message);
  });

  it('validates its arguments', () => {
    const err = caught(() => parseOutcomeLine('{}', 'd.jsonl', 0));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a positive integer for lineNo but received number 0');
    expect(caught(() => parseOutcomeLine(undefined as unknown as string, 'd', 1)).message).toBe('Expected a string for line but received undefined');
    expect(caught(() => parseOutcomeLine('{}', null as unknown as string, 1)).message).toBe('Expected a string for file but received null');
  });
});

describe('readOutcomes', () => {
  it('reads records, ignores blank lines, handles CRLF and reports line counts', () => {
    const { records, report } = readOutcomes(fx('outcomes-small.jsonl'));
    expect(records.map((r) => r.id)).toEqual(['p1', 'p2', 'outcomes-small.jsonl:4']);
    expect(records[2]!.scores).toEqual({ weak: 0.5, strong: 0.75, third: 0.25 });
    expect(records[0]!.costs).toEqual({ strong: 0.003, weak: 0.0002 });
    expect(report).toEqual({ file: fx('outcomes-small.jsonl'), lines: 4, records: 3, skipped: [] });
  });

  it('throws on the first bad line by default', () => {
    const err = caught(() => readOutcomes(fx('bad-outcomes.jsonl')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
    expect(err.message).toBe(`${fx('bad-outcomes.jsonl')}:2: not valid JSON (Unexpected end of JSON input)`);
  });

  it('skips and reports bad lines in skip mode', () => {
    const f = fx('bad-outcomes.jsonl');
    const { records, report } = readOutcomes(f, { onBadRecord: 'skip' });
    expect(records.map((r) => r.id)).toEqual(['ok1', 'ok2']);
    expect(report.lines).toBe(7);
    expect(report.records).toBe(2);
    expect(report.skipped).toEqual([
      { line: 2, reason: `${f}:2: not valid JSON (Unexpected end of JSON input)` },
      { line: 3, reason: `${f}:3: missing "prompt" (a non-empty string)` },
      { line: 4, reason: `${f}:4: scores["gpt-4"] = 1.5 is outside [0,1]` },
      { line: 5, reason: `${f}:5: "scores" must be an object of model id -> number, got array of length 2` },
      { line: 6, reason: `${f}:6: costs["x"] = -1 must be a non-negative number` },
    ]);
  });

  it('rejects a file without records', () => {
    const err = caught(() => readOutcomes(fx('empty.jsonl')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
    expect(err.message).toBe(`${fx('empty.jsonl')}: no records (the file has no non-blank lines)`);
  });

  it('reports an unreadable file as ERR_ROUTECORE_IO naming the path', () => {
    const err = caught(() => readOutcomes(fx('nope.jsonl')));
    expect(err.code).toBe('ERR_ROUTECORE_IO');
    expect(err.message).toBe(`cannot read outcome file "${fx('nope.jsonl')}": no such file`);
    const dirErr = caught(() => readOutcomes(path.join(here, 'fixtures')));
    expect(dirErr.message).toBe(`cannot read outcome file "${path.join(here, 'fixtures')}": it is a directory`);
  });

  it('validates path and options', () => {
    const e1 = caught(() => readOutcomes('' as string));
    expect(e1.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(e1.message).toBe('Expected a non-empty file path string for path but received string ""');
    const e2 = caught(() => readOutcomes(fx('outcomes-small.jsonl'), { onBadRecord: 'ignore' as 'skip' }));
    expect(e2.message).toBe('Expected "error" or "skip" for options.onBadRecord but received string "ignore"');
    const e3 = caught(() => readOutcomes(fx('outcomes-small.jsonl'), 'skip' as unknown as object));
    expect(e3.message).toBe('Expected an object or undefined for options but received string "skip"');
    const e4 = caught(() => readOutcomes(fx('outcomes-small.jsonl'), { onBadRecords: 'skip' } as object));
    expect(e4.message).toBe('Expected no such option (known: onBadRecord) for options.onBadRecords but received string "skip"');
  });
});

describe('pairwise records', () => {
  it('reads model_a/model_b as modelA/modelB and maps Arena ties', () => {
    const { records, report } = readPairwise(fx('pairwise-small.jsonl'));
    expect(records).toEqual([
      { id: 'c1', prompt: 'Write a haiku.', modelA: 'gpt-4', modelB: 'mixtral', winner: 'model_a' },
      { id: 'pairwise-small.jsonl:2', prompt: 'Explain TCP.', modelA: 'mixtral', modelB: 'gpt-4', winner: 'tie' },
      { id: 'c3', prompt: '2+2?', modelA: 'gpt-4', modelB: 'llama', winner: 'tie' },
      { id: 'c4', prompt: 'Hi', modelA: 'llama', modelB: 'gpt-4', winner: 'model_b' },
    ]);
    expect(report.records).toBe(4);
  });

  it('reports bad pairwise lines', () => {
    const f = fx('bad-pairwise.jsonl');
    const err = caught(() => readPairwise(f));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
    expect(err.message).toBe(`${f}:2: "winner" must be "model_a", "model_b" or "tie", got "c"`);
    const { report } = readPairwise(f, { onBadRecord: 'skip' });
    expect(report.skipped).toEqual([
      { line: 2, reason: `${f}:2: "winner" must be "model_a", "model_b" or "tie", got "c"` },
      { line: 3, reason: `${f}:3: missing "model_b" (a non-empty string)` },
      { line: 4, reason: `${f}:4: "model_a" and "model_b" are the same model "gpt-4"` },
    ]);
  });

  it('names a missing winner', () => {
    const err = caught(() => parsePairwiseLine('{"prompt": "p", "model_a": "a", "model_b": "b"}', 'arena.jsonl', 9));
    expect(err.message).toBe('arena.jsonl:9: "winner" must be "model_a", "model_b" or "tie", got nothing');
  });

  it('reports an unreadable pairwise file as ERR_ROUTECORE_IO', () => {
    const err = caught(() => readPairwise(fx('nope.jsonl')));
    expect(err.code).toBe('ERR_ROUTECORE_IO');
    expect(err.message).toBe(`cannot read pairwise file "${fx('nope.jsonl')}": no such file`);
  });
});

describe('modelIdsOf', () => {
  it('returns the union of score keys in first-seen order', () => {
    const { records } = readOutcomes(fx('outcomes-small.jsonl'));
    expect(modelIdsOf(records)).toEqual(['strong', 'weak', 'third']);
    expect(modelIdsOf([])).toEqual([]);
  });

  it('validates its argument', () => {
    const err = caught(() => modelIdsOf({} as unknown as []));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected an array of outcome records for records but received object');
    expect(caught(() => modelIdsOf([null] as unknown as [])).message).toBe(
      'Expected an outcome record with a "scores" object for records[0] but received null',
    );
  });
});

// Row counts: routellm-* from the data README; the others as shipped (the README gives the open7 test
// total, 10,121, which the six listed _test files must add up to).
const EXPECTED_ROWS: Record<string, number> = {
  'routellm-gsm8k.jsonl': 1307,
  'routellm-mmlu.jsonl': 14037,
  'routellm-mtbench.jsonl': 80,
  'routerbench-arc_challenge_test.jsonl': 445,
  'routerbench-arc_challenge_train.jsonl': 1039,
  'routerbench-mbpp_test.jsonl': 128,
  'routerbench-mbpp_train.jsonl': 299,
  'routerbench-winogrande_test.jsonl': 380,
  'routerbench-winogrande_train.jsonl': 887,
  'open7-MATH_prealgebra.jsonl': 871,
  'open7-arc_challenge_test.jsonl': 352,
  'open7-arc_challenge_train.jsonl': 820,
  'open7-arc_easy_test.jsonl': 713,
  'open7-arc_easy_train.jsonl': 1663,
  'open7-ceval.jsonl': 1346,
  'open7-cmmlu_test.jsonl': 3475,
  'open7-cmmlu_train.jsonl': 2000,
  'open7-gsm8k_test.jsonl': 1319,
  'open7-gsm8k_train.jsonl': 1000,
  'open7-humaneval_test.jsonl': 49,
  'open7-humaneval_train.jsonl': 115,
  'open7-javascript.jsonl': 164,
  'open7-mbpp.jsonl': 500,
  'open7-mmlu_test.jsonl': 4213,
  'open7-mmlu_train.jsonl': 2000,
  'chat-arena-hard-v0.1.jsonl': 498,
  'chat-mtbench-2turn.jsonl': 150,
  // pairwise records (model_a, model_b, winner), read with readPairwise
  'chat-llmfao-pairwise.jsonl': 12167,
};
const PAIRWISE_FILES = new Set(['chat-llmfao-pairwise.jsonl']);

describe('the shared data files', () => {
  it.skipIf(!hasData)('every file reads with zero skipped lines and the expected row count', () => {
    const files = readdirSync(dataDir).filter((f) => f.endsWith('.jsonl')).sort();
    expect(files.sort()).toEqual(Object.keys(EXPECTED_ROWS).sort());
    for (const f of files) {
      const read = PAIRWISE_FILES.has(f) ? readPairwise : readOutcomes;
      const { records, report } = read(path.join(dataDir, f), { onBadRecord: 'skip' });
      expect(report.skipped, f).toEqual([]);
      expect(records.length, f).toBe(EXPECTED_ROWS[f]);
      expect(report.records, f).toBe(EXPECTED_ROWS[f]);
    }
    const open7Test = ['gsm8k', 'mmlu', 'arc_challenge', 'arc_easy', 'cmmlu', 'humaneval'].reduce(
      (n, t) => n + EXPECTED_ROWS[`open7-${t}_test.jsonl`]!,
      0,
    );
    expect(open7Test).toBe(10121);
  });

  it.skipIf(!hasData)('RouteLLM files hold the two models of the README and MMLU tasks by subject', () => {
    const { records } = readOutcomes(path.join(dataDir, 'routellm-mmlu.jsonl'));
    expect(modelIdsOf(records).sort()).toEqual(['gpt-4-1106-preview', 'mistralai/Mixtral-8x7B-Instruct-v0.1'].sort());
    expect(records.every((r) => r.task?.startsWith('mmlu/'))).toBe(true);
    const rb = readOutcomes(path.join(dataDir, 'routerbench-mbpp_test.jsonl')).records;
    expect(modelIdsOf(rb)).toHaveLength(11);
    expect(rb.every((r) => r.costs !== undefined)).toBe(true);
  });
});
