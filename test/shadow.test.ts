/**
 * Shadow judging: the judge prompt and verdict parser, the interval estimators, and the gateway end
 * to end with mock upstreams whose judge follows a hidden rule (prompts with code: the strong model's
 * answer is better; others: a tie), including a judge that fails, hangs or answers garbage.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apgr, pgrCurve } from '../src/evaluation/metrics.js';
import { strongWinProbability } from '../src/routing/selection.js';
import { DEFAULT_JUDGE_TEMPLATE, checkJudgeTemplate, combineVerdicts, judgeMessages, loadJudgeTemplate, parseVerdict } from '../src/learning/judge.js';
import { seededRandom, sortedApgr, wilson } from '../src/learning/stats.js';
import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { readLearningLog } from '../src/training/judged-pairs.js';
import { CODE_SHARE, hasCode, makePrompts, startLearningFixture, type LearningFixture } from './helpers/learning-fixture.js';
import type { StatsBody } from '../src/learning/live.js';
import { post, until } from './helpers/gateway-fixture.js';

describe('judge prompt and verdicts', () => {
  it('parses MT-Bench markers robustly', () => {
    expect(parseVerdict('A is better.\n[[A]]')).toBe('A');
    expect(parseVerdict('[[B]]')).toBe('B');
    expect(parseVerdict('tie [[C]]')).toBe('tie');
    expect(parseVerdict('[[ b ]]')).toBe('B');
    // the reasoning quotes the options; the last line decides
    expect(parseVerdict('I may answer [[A]], [[B]] or [[C]].\nFinal:\n[[B]]')).toBe('B');
    expect(parseVerdict('[[A]] or [[B]]')).toBe('invalid');
    expect(parseVerdict('no verdict here')).toBe('invalid');
    expect(parseVerdict('')).toBe('invalid');
    expect(parseVerdict(undefined)).toBe('invalid');
  });

  it('combines both orders: agreement, inconsistency as a tie, invalid as no record', () => {
    expect(combineVerdicts('A', 'B')).toBe('served'); // served shown as A, then as B: both times it won
    expect(combineVerdicts('B', 'A')).toBe('comparison');
    expect(combineVerdicts('tie', 'tie')).toBe('tie');
    expect(combineVerdicts('A', 'A')).toBe('tie'); // position, not content
    expect(combineVerdicts('A', 'invalid')).toBe('invalid');
  });

  it('fills the template without re-expanding placeholders inside answers', () => {
    const m = judgeMessages(DEFAULT_JUDGE_TEMPLATE, 'Q?', 'has {answer_b} inside', 'second');
    expect(m[1]!.content).toContain('has {answer_b} inside');
    expect(m[1]!.content).toContain('second');
    expect(m[0]!.content).toContain('[[C]]');
  });

  it('checks a user template and names the field at fault', () => {
    expect(() => checkJudgeTemplate({ system_prompt: 'x [[A]] [[B]] [[C]]', prompt_template: '{question} {answer_a}' }, 'j.json')).toThrow(
      'j.json: field "prompt_template" must contain the placeholder {answer_b} (placeholders: {question}, {answer_a}, {answer_b})',
    );
    expect(() => checkJudgeTemplate({ system_prompt: 'pick one', prompt_template: '{question} {answer_a} {answer_b}' }, 'j.json')).toThrow('j.json: the template never mentions [[A]]');
    expect(() => checkJudgeTemplate({ type: 'single', system_prompt: 'a', prompt_template: 'b' }, 'j.json')).toThrow('j.json: field "type" must be "pairwise"');
    expect(() => checkJudgeTemplate([], 'j.json')).toThrow('j.json: a judge template must be a JSON object');
  });

  it('loads a FastChat-style JSONL file (first pairwise entry)', () => {
    const dir = process.env['TMPDIR'] ?? '/tmp';
    const path = join(dir, `judge-${process.pid}.jsonl`);
    writeFileSync(
      path,
      JSON.stringify({ name: 'single-v1', type: 'single', system_prompt: 's', prompt_template: 'p' }) +
        '\n' +
        JSON.stringify({ name: 'pair-mine', type: 'pairwise', system_prompt: 'Say [[A]], [[B]] or [[C]].', prompt_template: 'Q: {question}\nA: {answer_a}\nB: {answer_b}' }) +
        '\n',
    );
    expect(loadJudgeTemplate(path).name).toBe('pair-mine');
  });
});

describe('estimators', () => {
  it('Wilson interval matches the closed form', () => {
    const e = wilson(7, 10);
    expect(e.value).toBeCloseTo(0.7, 10);
    expect(e.interval![0]).toBeCloseTo(0.3968, 3);
    expect(e.interval![1]).toBeCloseTo(0.8922, 3);
    expect(wilson(0, 0).value).toBeNull();
  });

  it('sortedApgr equals apgr(pgrCurve) on unit weights', () => {
    const rand = seededRandom(3);
    const n = 157;
    const s = Array.from({ length: n }, () => (rand() < 0.7 ? 1 : 0));
    const w = Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0));
    const r = Array.from({ length: n }, () => rand());
    const order = r.map((_, i) => i).sort((a, b) => r[b]! - r[a]! || a - b);
    const mine = sortedApgr(order.map((i) => s[i]!), order.map((i) => w[i]!), null);
    expect(mine).toBeCloseTo(apgr(pgrCurve(s, w, r, 100)), 9);
  });
});

/** A gateway over the learning fixture; shadow settings through the config file. */
async function gateway(fx: LearningFixture, file: string, name: string, extra: Record<string, unknown> = {}): Promise<Gateway> {
  const configPath = join(fx.dir, `${name}.yaml`);
  writeFileSync(configPath, file);
  const config = resolveServeConfig({ registry: fx.registryPath, aliases: { strong: 'big', weak: 'small' }, port: '0', config: configPath, ...extra }, {});
  config.log = { ...config.log, kind: 'sqlite', path: join(fx.dir, `${name}.sqlite`), flushMs: 20 };
  return Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
}

async function ask(gw: Gateway, prompt: string, stream = false): Promise<{ status: number; model: string; id: string }> {
  const body = { model: 'routecore', messages: [{ role: 'user', content: prompt }], ...(stream ? { stream: true } : {}) };
  const r = await post(`${gw.url}/v1/chat/completions`, body);
  return { status: r.status, model: r.headers.get('x-routecore-model') ?? '', id: r.headers.get('x-request-id') ?? '' };
}

describe('shadow judging in the gateway', () => {
  let fx: LearningFixture;
  beforeAll(async () => {
    fx = await startLearningFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  it('--shadow 1: every answer judged into the log; /v1/stats estimates hold the rule\'s true rates', async () => {
    fx.mode = 'rule';
    const gw = await gateway(fx, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n', 'all');
    try {
      const prompts = makePrompts(160);
      const served = new Map<string, { model: string; code: boolean }>();
      for (let i = 0; i < prompts.length; i += 8) {
        const batch = await Promise.all(prompts.slice(i, i + 8).map((p, k) => ask(gw, p, (i + k) % 5 === 0)));
        batch.forEach((r, k) => {
          expect(r.status).toBe(200);
          served.set(r.id, { model: r.model, code: hasCode(prompts[i + k]!) });
        });
      }
      await until(async () => (await gw.learning.stats()).judged === prompts.length, 'every answer judged');
      const stats = (await (await fetch(`${gw.url}/v1/stats`)).json()) as StatsBody;
      expect(stats.judged).toBe(prompts.length);
      const q = stats.quality;
      expect(q.uniform).toBe(prompts.length);
      // The rule's true rates on this traffic.
      const all = [...served.values()];
      const nonCode = all.filter((x) => !x.code).length / all.length;
      const routerOk = all.filter((x) => !x.code || x.model === 'big').length / all.length;
      const inside = (e: { interval: [number, number] }, v: number) => {
        expect(e.interval[0]).toBeLessThanOrEqual(v);
        expect(e.interval[1]).toBeGreaterThanOrEqual(v);
      };
      inside(q.cheaperAsGood, nonCode);
      inside(q.cheaperAsGood, 1 - CODE_SHARE); // the generating rate, not only this sample's
      inside(q.routerAsGood, routerOk);
      const fig = (e: { value: number; interval: [number, number]; n: number }) => `${e.value.toFixed(3)} [${e.interval[0].toFixed(3)}, ${e.interval[1].toFixed(3)}] n=${e.n}`;
      process.stderr.write(`estimates after ${prompts.length} judged pairs: cheaper as good ${fig(q.cheaperAsGood)} (true: this traffic ${nonCode.toFixed(3)}, generating rate ${1 - CODE_SHARE}); router as good ${fig(q.routerAsGood)} (true ${routerOk.toFixed(3)}); APGR ${fig(q.apgr)}; saving ${fig(q.saving)}\n`);
      expect(q.cheaperAsGood.method).toBe('wilson');
      expect(q.cheaperAsGood.n).toBe(prompts.length);
      // APGR: the serving router's P(strong better) against the rule, computed here independently.
      const scores = await gw.router.scores(prompts);
      const m = gw.router.models.length;
      const si = gw.router.models.indexOf('big'), wi = gw.router.models.indexOf('small');
      const strong = prompts.map(() => 1);
      const weak = prompts.map((p) => (hasCode(p) ? 0 : 1));
      const pref = prompts.map((_, i) => strongWinProbability(scores[i * m + si]!, scores[i * m + wi]!, gw.router.objective));
      const truth = apgr(pgrCurve(strong, weak, pref, 100));
      expect(q.apgr.method).toBe('bootstrap');
      expect(q.apgr.interval[0]).toBeLessThanOrEqual(truth + 1e-3);
      expect(q.apgr.interval[1]).toBeGreaterThanOrEqual(truth - 1e-3);
      // Saving against always calling big, at the measured quality.
      expect(q.saving.strongest).toBe('big');
      expect(q.saving.value).toBeGreaterThan(0);
      expect(q.saving.interval[0]).toBeLessThanOrEqual(q.saving.value);
      // The log holds each pair once, joined to its request.
      gw.log.flush();
      const log = readLearningLog(join(fx.dir, 'all.sqlite'));
      expect(log.judgments.length).toBe(prompts.length);
      for (const j of log.judgments) {
        const s = served.get(j.id)!;
        expect(j.served).toBe(s.model);
        expect(j.prompt).not.toBeNull();
        expect(j.verdict).toBe(s.code ? (s.model === 'big' ? 'served' : 'comparison') : 'tie');
      }
      // Prometheus gauges.
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/routecore_judged_cheaper_as_good_ratio\{bound="low"\} 0\.\d+/);
      expect(metrics).toContain(`routecore_judged_pairs{sample="uniform"} ${prompts.length}`);
    } finally {
      await gw.close();
    }
  });

  for (const failure of ['status 500', 'timeout', 'garbage'] as const) {
    it(`a judge that ${failure === 'garbage' ? 'answers garbage' : failure === 'timeout' ? 'times out' : 'fails'} costs no client request and writes no record`, async () => {
      fx.mode = failure === 'garbage' ? 'garbage' : 'rule';
      if (failure === 'status 500') fx.judge.fault = { kind: 'status', status: 500 };
      if (failure === 'timeout') fx.judge.fault = { kind: 'timeout' };
      const name = `fail-${failure.replace(' ', '')}`;
      const gw = await gateway(fx, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n', name, { timeoutMs: failure === 'timeout' ? '300' : undefined });
      try {
        const prompts = makePrompts(24, 11);
        const results = await Promise.all(prompts.map((p, i) => ask(gw, p, i % 2 === 0)));
        for (const r of results) expect(r.status).toBe(200);
        await until(() => (gw.learning.shadow!.counters.skipped[failure === 'garbage' ? 'invalid verdict' : 'judge failed'] ?? 0) === prompts.length, 'every pair dropped');
        const stats = await gw.learning.stats();
        expect(stats.judged).toBe(0);
        gw.log.flush();
        expect(readLearningLog(join(fx.dir, `${name}.sqlite`)).judgments).toHaveLength(0);
        // The judge's failures never cool a model down for clients.
        expect(stats.cooldowns).toEqual([]);
      } finally {
        fx.judge.fault = { kind: 'ok' };
        await gw.close();
      }
    });
  }

  it('answers never wait for the judge: every client answer is in while the judging still runs', async () => {
    fx.mode = 'rule';
    fx.judge.fault = { kind: 'ok', delayMs: 2000 };
    const gw = await gateway(fx, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n', 'slow-judge');
    try {
      const prompts = makePrompts(12, 13);
      const results = await Promise.all(prompts.map((p, i) => ask(gw, p, i % 2 === 0)));
      for (const r of results) expect(r.status).toBe(200);
      // Every client has its answer, and no judge has answered yet.
      expect(gw.learning.shadow!.counters.judged).toBe(0);
      await until(() => gw.learning.shadow!.counters.judged === prompts.length, 'the slow judge');
    } finally {
      fx.judge.fault = { kind: 'ok' };
      await gw.close();
    }
  });

  it('a key that opted out is never shadowed; the daily budget stops shadow calls', async () => {
    fx.mode = 'rule';
    const file = [
      'keys:',
      '  - name: private',
      `    sha256: ${(await import('node:crypto')).createHash('sha256').update('sk-private-key-1').digest('hex')}`,
      '    shadow: false',
      '  - name: open',
      `    sha256: ${(await import('node:crypto')).createHash('sha256').update('sk-open-key-2').digest('hex')}`,
      'shadow:',
      '  rate: 1',
      '  judge: judge',
      '  budgetUsdPerDay: 0.0000001',
    ].join('\n');
    const gw = await gateway(fx, file, 'optout');
    try {
      const before = fx.judge.requests.length;
      const r = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: 'hello there' }] }, { authorization: 'Bearer sk-private-key-1' });
      expect(r.status).toBe(200);
      const r2 = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: 'hello again' }] }, { authorization: 'Bearer sk-open-key-2' });
      expect(r2.status).toBe(200);
      await until(() => (gw.learning.shadow!.counters.skipped['daily budget'] ?? 0) === 1, 'the open key\'s request refused by the budget');
      expect(gw.learning.shadow!.counters.sampled).toBe(1);
      expect(fx.judge.requests.length).toBe(before);
    } finally {
      await gw.close();
    }
  });
});
