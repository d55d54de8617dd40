/**
 * The `shadow:` and `learn:` sections of the gateway's config file and their command-line flags
 * (`--shadow RATE`, `--judge ID`, `--compare ID`, `--shadow-budget-usd N`, `--judge-template F`,
 * `--learn`, `--learn-every MIN`). Flags win over the file. Every message names the file or
 * `command line` and the field, like the rest of src/serve/config.ts.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';

import { RoutecoreError, describe, didYouMean, isPlainObject } from '../errors.js';

/** Shadow judging settings of a gateway (see src/learning/shadow.ts for their meaning). */
export interface ShadowConfig {
  /** Uniform share of answered requests judged, 0–1. */
  rate: number;
  /** The judge model (registry id). */
  judge: string;
  /** The comparison model; default the registry's most expensive priced model. */
  comparison?: string;
  /** Extra sampling of the prompts the router is least sure about (multiplier of rate). Default 0.5. */
  focus: number;
  /** USD per UTC day for shadow calls, all replicas together. Default 1. */
  budgetUsdPerDay: number;
  /** Shadow requests at once, all replicas together. Default 4. */
  maxConcurrent: number;
  /** Output token bound of the comparison answer (default 1024) and of each judge call (default 512). */
  maxTokens: number;
  judgeMaxTokens: number;
  /** A judge template file (MT-Bench pairwise convention); default the built-in template. */
  template?: string;
}

/** Guarded retraining inside the gateway (`serve --learn`). */
export interface LearnConfig {
  /** Minutes between learning rounds. Default 60. */
  everyMinutes: number;
  /** Judged pairs needed before a round trains anything. Default 200. */
  minPairs: number;
  /** Share of the newest judged pairs held out for the comparison. Default 0.3. */
  holdout: number;
  /** An optional prior data file (outcome or pairwise records) trained on together with the log, and its weight. */
  prior?: string;
  priorWeight: number;
}

/** The flags of `routecore serve` this module reads. */
export interface LearningFlags {
  shadow?: string;
  judge?: string;
  compare?: string;
  shadowBudgetUsd?: string;
  judgeTemplate?: string;
  learn?: boolean;
  learnEvery?: string;
}

const SHADOW_FIELDS = ['rate', 'judge', 'comparison', 'focus', 'budgetUsdPerDay', 'maxConcurrent', 'maxTokens', 'judgeMaxTokens', 'template'];
const LEARN_FIELDS = ['everyMinutes', 'minPairs', 'holdout', 'prior', 'priorWeight'];

function bad(message: string): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_CONFIG', message);
}

function known(obj: Record<string, unknown>, fields: readonly string[], prefix: string, source: string): void {
  for (const k of Object.keys(obj)) {
    if (fields.includes(k)) continue;
    const hint = didYouMean(k, fields);
    throw bad(`${source}: unknown field "${prefix}.${k}"` + (hint ? ` (did you mean "${hint}"?)` : ` (known fields: ${fields.join(', ')})`));
  }
}

function num(v: unknown, where: string, lo: number, hi: number, integer = false): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < lo || n > hi || (integer && !Number.isInteger(n))) {
    throw bad(`${where} must be ${integer ? 'an integer' : 'a number'} from ${lo} to ${hi}, got ${describe(v)}`);
  }
  return n;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw bad(`${where} must be a non-empty string, got ${describe(v)}`);
  return v;
}

/**
 * The shadow settings from the file's `shadow:` section and the flags; undefined when shadowing is off
 * (no rate anywhere, or rate 0). `base`: the folder relative file paths of the file are resolved against.
 */
export function resolveShadowConfig(file: unknown, flags: LearningFlags, source: string, base: string): ShadowConfig | undefined {
  let f: Record<string, unknown> = {};
  if (file !== undefined && file !== false) {
    if (!isPlainObject(file)) throw bad(`${source}: field "shadow" must be false or a mapping of ${SHADOW_FIELDS.join(', ')}, got ${describe(file)}`);
    known(file, SHADOW_FIELDS, 'shadow', source);
    f = file;
  }
  const field = (name: string) => `${source}: field "shadow.${name}"`;
  const rate = flags.shadow !== undefined ? num(flags.shadow, 'command line: --shadow', 0, 1) : f['rate'] !== undefined ? num(f['rate'], field('rate'), 0, 1) : undefined;
  const anyFlag = flags.judge !== undefined || flags.compare !== undefined || flags.shadowBudgetUsd !== undefined || flags.judgeTemplate !== undefined;
  if (rate === undefined) {
    if (anyFlag) throw bad('command line: --judge, --compare, --shadow-budget-usd and --judge-template need --shadow RATE (the share of answered requests to judge)');
    if (Object.keys(f).length > 0) throw bad(`${field('rate')} is missing: the share of answered requests to judge, 0 to 1`);
    return undefined;
  }
  if (rate === 0) return undefined;
  const judge = flags.judge !== undefined ? str(flags.judge, 'command line: --judge') : f['judge'] !== undefined ? str(f['judge'], field('judge')) : undefined;
  if (judge === undefined) throw bad(flags.shadow !== undefined ? 'command line: --shadow needs --judge ID (a registry id of the judge model)' : `${field('judge')} is missing: the judge model, a registry id`);
  const config: ShadowConfig = {
    rate,
    judge,
    focus: f['focus'] !== undefined ? num(f['focus'], field('focus'), 0, 100) : 0.5,
    budgetUsdPerDay: flags.shadowBudgetUsd !== undefined ? num(flags.shadowBudgetUsd, 'command line: --shadow-budget-usd', 0, 1e9) : f['budgetUsdPerDay'] !== undefined ? num(f['budgetUsdPerDay'], field('budgetUsdPerDay'), 0, 1e9) : 1,
    maxConcurrent: f['maxConcurrent'] !== undefined ? num(f['maxConcurrent'], field('maxConcurrent'), 1, 10_000, true) : 4,
    maxTokens: f['maxTokens'] !== undefined ? num(f['maxTokens'], field('maxTokens'), 1, 1_000_000, true) : 1024,
    judgeMaxTokens: f['judgeMaxTokens'] !== undefined ? num(f['judgeMaxTokens'], field('judgeMaxTokens'), 16, 1_000_000, true) : 512,
  };
  if (flags.compare !== undefined) config.comparison = str(flags.compare, 'command line: --compare');
  else if (f['comparison'] !== undefined) config.comparison = str(f['comparison'], field('comparison'));
  if (flags.judgeTemplate !== undefined) config.template = resolve(str(flags.judgeTemplate, 'command line: --judge-template'));
  else if (f['template'] !== undefined) {
    const t = str(f['template'], field('template'));
    config.template = isAbsolute(t) ? t : resolve(base, t);
  }
  return config;
}

/** The learning settings from the file's `learn:` section and the flags; undefined when `--learn` is not given and the file has no section. */
export function resolveLearnConfig(file: unknown, flags: LearningFlags, source: string, base: string): LearnConfig | undefined {
  let f: Record<string, unknown> = {};
  if (file !== undefined && file !== false) {
    if (!isPlainObject(file)) throw bad(`${source}: field "learn" must be false or a mapping of ${LEARN_FIELDS.join(', ')}, got ${describe(file)}`);
    known(file, LEARN_FIELDS, 'learn', source);
    f = file;
  }
  if (!flags.learn && (file === undefined || file === false)) {
    if (flags.learnEvery !== undefined) throw bad('command line: --learn-every needs --learn');
    return undefined;
  }
  const field = (name: string) => `${source}: field "learn.${name}"`;
  const config: LearnConfig = {
    everyMinutes: flags.learnEvery !== undefined ? num(flags.learnEvery, 'command line: --learn-every', 0.01, 10_080) : f['everyMinutes'] !== undefined ? num(f['everyMinutes'], field('everyMinutes'), 0.01, 10_080) : 60,
    minPairs: f['minPairs'] !== undefined ? num(f['minPairs'], field('minPairs'), 10, 1e9, true) : 200,
    holdout: f['holdout'] !== undefined ? num(f['holdout'], field('holdout'), 0.05, 0.95) : 0.3,
    priorWeight: f['priorWeight'] !== undefined ? num(f['priorWeight'], field('priorWeight'), 0, 1000) : 1,
  };
  if (f['prior'] !== undefined) {
    const p = str(f['prior'], field('prior'));
    config.prior = isAbsolute(p) ? p : resolve(base, p);
  }
  return config;
}
