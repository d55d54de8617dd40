/**
 * The command-line faces of learning: `routecore serve --shadow --judge --learn` (the startup lines
 * that say what is sampled and where it goes; learning rounds in a worker thread on a schedule),
 * `routecore learn` / `learn --rollback`, and `train --auto` reading the judged pairs of a gateway log.
 * They run the built CLI (dist/) and skip, saying so, when it has not been built.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readDecisions } from '../src/learning/learn.js';
import { defaultRouterPath } from '../src/routing/router.js';
import { resolveServeConfig } from '../src/serve/config.js';
import { Gateway } from '../src/serve/gateway.js';
import { loadTrainingData } from '../src/training/auto-data.js';
import { makePrompts, startLearningFixture, type LearningFixture } from './helpers/learning-fixture.js';
import { post, until } from './helpers/gateway-fixture.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const missing = existsSync(CLI) ? undefined : `dist/ is missing (${CLI}): run \`npm run build:ts\`; these tests run the built CLI`;
if (missing) console.warn(missing);

describe.skipIf(missing !== undefined)('learning from the command line', () => {
  let fx: LearningFixture;
  let logPath: string;
  beforeAll(async () => {
    fx = await startLearningFixture();
    fx.mode = 'rule';
    // A log with judged pairs, from a gateway in this process.
    const configPath = join(fx.dir, 'fill.yaml');
    writeFileSync(configPath, 'shadow:\n  rate: 1\n  judge: judge\n  maxConcurrent: 64\n');
    const config = resolveServeConfig({ registry: fx.registryPath, aliases: { strong: 'big', weak: 'small' }, port: '0', config: configPath }, {});
    logPath = join(fx.dir, 'fill.sqlite');
    config.log = { ...config.log, kind: 'sqlite', path: logPath, flushMs: 20 };
    const gw = await Gateway.start(config, { env: {}, logStream: { write: () => undefined } });
    try {
      const prompts = makePrompts(300, 41);
      for (let i = 0; i < prompts.length; i += 16) await Promise.all(prompts.slice(i, i + 16).map((p) => post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: p }] })));
      await until(async () => (await gw.learning.stats()).judged === prompts.length, 'every answer judged');
    } finally {
      await gw.close();
    }
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('routecore learn swaps, prints its figures, and --rollback restores', () => {
    const router = join(fx.dir, 'cli.router');
    copyFileSync(defaultRouterPath(), router);
    const original = readFileSync(router);
    const r = spawnSync(process.execPath, [CLI, 'learn', '--log', logPath, '--router', router, '--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^learn: swap: the candidate beats the serving router on \d+ held-out judged pairs/);
    expect(r.stdout).toContain('held-out APGR: serving');
    expect(r.stdout).toContain(`previous router kept as ${router}.prev`);
    expect(readFileSync(router).equals(original)).toBe(false);
    const back = spawnSync(process.execPath, [CLI, 'learn', '--rollback', '--router', router], { encoding: 'utf8' });
    expect(back.status, back.stderr).toBe(0);
    expect(back.stdout).toContain('learn: rollback: restored the previous router');
    expect(readFileSync(router).equals(original)).toBe(true);
    expect(readDecisions(router).map((d) => d.action)).toEqual(['swap', 'rollback']);
    const bad = spawnSync(process.execPath, [CLI, 'learn', '--log', logPath], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('learn needs --router R.router');
  });

  it('serve --learn refuses what cannot learn, saying why', () => {
    const base = [CLI, 'serve', '--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0'];
    // In the fixture's folder: a gateway that gets as far as opening its default log writes it there.
    const run = (...extra: string[]) => spawnSync(process.execPath, [...base, ...extra], { encoding: 'utf8', timeout: 60_000, cwd: fx.dir });
    let r = run('--learn', '--shadow', '0.1', '--judge', 'judge');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--learn needs --router R.router');
    r = run('--learn', '--router', join(fx.dir, 'x.router'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--learn learns from judged pairs: it needs --shadow RATE --judge ID');
    r = run('--learn', '--router', join(fx.dir, 'x.router'), '--shadow', '0.1', '--judge', 'judge', '--log-content', 'none');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--learn trains on the prompts of judged requests');
    r = run('--shadow', '0.1', '--judge', 'nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('options.judge');
  });

  it('train --auto reads the judged pairs of a gateway log', () => {
    const { records, files } = loadTrainingData([{ path: logPath, weight: 1 }]);
    expect(files[0]!.format).toBe('outcome-log');
    expect(records.length).toBe(300);
    expect(records.every((r) => Object.keys(r.scores).sort().join() === 'big,small')).toBe(true);
  });

  it('serve --shadow --judge --learn: says what is sampled and where it goes; learns in a worker on its schedule', async () => {
    const router = join(fx.dir, 'served.router'); // does not exist: created from the default router
    const configPath = join(fx.dir, 'serve-cli.yaml');
    writeFileSync(configPath, `log: {kind: sqlite, path: ${logPath}}\nshadow:\n  maxConcurrent: 64\n  rate: 0.5\n  judge: judge\nlearn:\n  minPairs: 100\n`);
    const child = spawn(process.execPath, [CLI, 'serve', '--registry', fx.registryPath, '--alias', 'strong=big', '--alias', 'weak=small', '--port', '0', '--config', configPath, '--router', router, '--shadow', '0.25', '--judge', 'judge', '--shadow-budget-usd', '3', '--learn', '--learn-every', '0.02'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => err.includes('learning ON'), 'the startup lines', 60_000);
      expect(err).toMatch(/shadow judging ON: 25\.0% of answered requests \(up to 37\.5% of those the router is least sure about\) are sent again to big, and the prompt with both answers to the judge judge \(http:\/\/127\.0\.0\.1:\d+\/v1\); at most \$3\/day and 64 at once; verdicts go to the outcome log/);
      expect(err).toContain(`swapped into ${router} only when it beats the serving router on held-out pairs`);
      expect(existsSync(router)).toBe(true);
      // Every 1.2 s a round runs in a worker thread on the log (300 judged pairs already there).
      await until(() => readDecisions(router).length > 0, 'a learning round', 90_000);
      const d = readDecisions(router)[0]!;
      expect(d.action, d.reason).toBe('swap');
      // Reported through the gateway's logger (JSON lines on stdout), at info: seen at the default level.
      await until(() => out.includes('learning round: swap'), 'the round reported', 30_000);
      const line = out.split('\n').find((l) => l.includes('learning round: swap'))!;
      expect(JSON.parse(line)).toMatchObject({ level: 30, event: 'learning' });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
