/**
 * The `shadow:` and `learn:` sections of the gateway's config file and their command-line flags
 * (`--shadow RATE`, `--judge ID`, `--compare ID`, `--shadow-budget-usd N`, `--judge-template F`,
 * `--learn`, `--learn-every MIN`). Flags win over the file. The file's sections arrive checked against
 * the config file's schema (src/serve/config-schema.ts); what is here are the rules between fields and
 * flags, each message naming the file or `command line` and the field.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';

import { RoutecoreError, describe } from '../errors.js';

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

/** The file's `shadow:` mapping, already checked against the config file's schema (src/serve/config-schema.ts). */
export interface ShadowFileSection {
  rate?: number;
  judge?: string;
  comparison?: string;
  focus?: number;
  budgetUsdPerDay?: number;
  maxConcurrent?: number;
  maxTokens?: number;
  judgeMaxTokens?: number;
  template?: string;
}

/** The file's `learn:` mapping, already checked against the config file's schema. */
export interface LearnFileSection {
  everyMinutes?: number;
  minPairs?: number;
  holdout?: number;
  prior?: string;
  priorWeight?: number;
}

function bad(message: string): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_BAD_CONFIG', message);
}

/** A flag's number (flags are strings), checked against its range. */
function num(v: string, where: string, lo: number, hi: number): number {
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi) throw bad(`${where} must be a number from ${lo} to ${hi}, got ${describe(v)}`);
  return n;
}

function str(v: string, where: string): string {
  if (v.trim() === '') throw bad(`${where} must be a non-empty string, got ${describe(v)}`);
  return v;
}

/**
 * The shadow settings from the file's `shadow:` section and the flags; undefined when shadowing is off
 * (no rate anywhere, or rate 0). `base`: the folder relative file paths of the file are resolved against.
 */
export function resolveShadowConfig(file: ShadowFileSection | false | undefined, flags: LearningFlags, source: string, base: string): ShadowConfig | undefined {
  const f: ShadowFileSection = file === undefined || file === false ? {} : file;
  const field = (name: string) => `${source}: field "shadow.${name}"`;
  const rate = flags.shadow !== undefined ? num(flags.shadow, 'command line: --shadow', 0, 1) : f.rate;
  const anyFlag = flags.judge !== undefined || flags.compare !== undefined || flags.shadowBudgetUsd !== undefined || flags.judgeTemplate !== undefined;
  if (rate === undefined) {
    if (anyFlag) throw bad('command line: --judge, --compare, --shadow-budget-usd and --judge-template need --shadow RATE (the share of answered requests to judge)');
    if (Object.keys(f).length > 0) throw bad(`${field('rate')} is missing: the share of answered requests to judge, 0 to 1`);
    return undefined;
  }
  if (rate === 0) return undefined;
  const judge = flags.judge !== undefined ? str(flags.judge, 'command line: --judge') : f.judge;
  if (judge === undefined) throw bad(flags.shadow !== undefined ? 'command line: --shadow needs --judge ID (a registry id of the judge model)' : `${field('judge')} is missing: the judge model, a registry id`);
  const config: ShadowConfig = {
    rate,
    judge,
    focus: f.focus ?? 0.5,
    budgetUsdPerDay: flags.shadowBudgetUsd !== undefined ? num(flags.shadowBudgetUsd, 'command line: --shadow-budget-usd', 0, 1e9) : (f.budgetUsdPerDay ?? 1),
    maxConcurrent: f.maxConcurrent ?? 4,
    maxTokens: f.maxTokens ?? 1024,
    judgeMaxTokens: f.judgeMaxTokens ?? 512,
  };
  if (flags.compare !== undefined) config.comparison = str(flags.compare, 'command line: --compare');
  else if (f.comparison !== undefined) config.comparison = f.comparison;
  if (flags.judgeTemplate !== undefined) config.template = resolve(str(flags.judgeTemplate, 'command line: --judge-template'));
  else if (f.template !== undefined) config.template = isAbsolute(f.template) ? f.template : resolve(base, f.template);
  return config;
}

/** The learning settings from the file's `learn:` section and the flags; undefined when `--learn` is not given and the file has no section. */
export function resolveLearnConfig(file: LearnFileSection | false | undefined, flags: LearningFlags, base: string): LearnConfig | undefined {
  if (!flags.learn && (file === undefined || file === false)) {
    if (flags.learnEvery !== undefined) throw bad('command line: --learn-every needs --learn');
    return undefined;
  }
  const f: LearnFileSection = file === undefined || file === false ? {} : file;
  const config: LearnConfig = {
    everyMinutes: flags.learnEvery !== undefined ? num(flags.learnEvery, 'command line: --learn-every', 0.01, 10_080) : (f.everyMinutes ?? 60),
    minPairs: f.minPairs ?? 200,
    holdout: f.holdout ?? 0.3,
    priorWeight: f.priorWeight ?? 1,
  };
  if (f.prior !== undefined) config.prior = isAbsolute(f.prior) ? f.prior : resolve(base, f.prior);
  return config;
}
