#!/usr/bin/env node
/**
 * The `routecore` command line: info, train, route.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { backendInfo } from '../addon/backend.js';
import { readOutcomes, readPairwise, sniffFormat, type OutcomeRecord, type PairwiseRecord } from '../training/data.js';
import { RoutecoreError, isRoutecoreError } from '../errors.js';
import { packageRoot } from '../addon/native.js';
import { defaultRouterPath, type RouteOptions } from '../routing/router.js';
import { POLICIES, type PolicyName } from '../routing/policy.js';
import { Router } from '../app/router.js';
import { train, type PredictorKind, type TrainOptions } from '../training/train.js';
import { parseEncoderSpec } from '../encoders/spec.js';
import { loadTextEncoder } from './text-encoder.js';
import { ProgressBar, progressCallback } from './progress.js';
import { evaluate, renderMarkdown, type EvalReport } from '../evaluation/eval.js';
import { crossValidate } from '../evaluation/cross-validate.js';
import { renderSvg } from '../evaluation/plot.js';
import { Registry } from '../routing/registry.js';
import { exportOnnx } from '../evaluation/onnx-export.js';
import { addReferences } from '../evaluation/references.js';
import { cmdCalibrate } from './calibrate.js';
import { writeFileSync } from 'node:fs';
import { SERVE_USAGE, ServeUsageError, cmdLog, cmdServe } from './serve.js';
import { AutoUsageError, cmdTrainAuto, describeRouterAuto } from './auto.js';
import { commandHelp, commandSections, helpHint, parseArgsMessage, unknownCommandMessage } from './help.js';
import { REPORT_USAGE, ReportUsageError, cmdReport } from './report.js';
import { LEARN_USAGE, LearnUsageError, cmdLearn } from './learn.js';
import { exitFailedWorker } from '../serve/workers.js';

const USAGE = `Usage: routecore <command> [options]

Commands:
  info                       backends compiled in, the one chosen and why; the default router
      --router F.router      load and describe this router instead (a bad file: exit 1, coded error),
                             with what train --auto chose and why
  route [PROMPT]             route a prompt (or every record of --data, or stdin lines); one JSON decision per line
      --router R             a .router file (default: the embedded strong/weak router)
      --text-encoder onnx:DIR   the encoder of a router trained on embeddings (its rows' model)
      --data F.jsonl         route the prompts of an outcome file (decisions carry the record id)
      --registry M.json      the deployment's models (JSON or YAML)
      --alias ID=REGISTRY_ID map a router model id to a registry id (repeatable)
      --policy ${POLICIES.join('|')}   default: the router's own (embedded router: threshold at τ 0.52;
                             your own routers: best); a knob below alone implies its policy
      --threshold T          threshold policy: strong when P(strong better) >= T (default: calibrated)
      --k N --subset-target Q --max-latency MS   subset policy: at most N models reaching joint success Q
      --lambda X             cost policy: maximise score - X * USD per query
      --target Q             cost policy: cheapest model predicted to reach score Q
      --max-cost USD         cost policy: hard cap per query
      --require CAP          cost policy: required capability (repeatable)
  calibrate --router R --data F --strong-share S --out R2.router [--strong ID --weak ID] [--half]
                             set the threshold policy's tau so share S of F's prompts go to the strong model;
                             F: prompts only (JSONL "prompt"/"messages"/outcome-log lines, or plain text lines)
  train --data F.jsonl [--data G.jsonl] --out R.router   outcome or pairwise (model_a/model_b/winner) records
      --predictor mlp|linear|mf|knn|kmeans   default mlp
      --k N (knn neighbours, default 20) --dim N (mf width, default 64; knn projection, default 128)
      --clusters N (kmeans) --hidden N --epochs N --learning-rate X --seed N --buckets LOG2
      --encoder hashing|static:DIR|mixed:DIR|onnx:DIR   text features: hashed n-grams (default), a model2vec-layout
                             model (DIR with tokenizer.json + model.safetensors), or both side by side; onnx:DIR: a
                             sentence-transformer export (route and serve it with --text-encoder onnx:DIR)
      --link-model           the router file names DIR (and its sha256) instead of carrying the table
      --half                 store the big tables (and knn references) as float16
  train --auto --data F.jsonl[:W] [--data G.jsonl --weight W] --out R.router
                             choose predictor, ensemble, label shrinkage, prior blend and calibration by
                             k-fold CV on the data; never worse in CV than always calling the best model.
                             Data: outcome, pairwise or outcome-log files, mixed, each with a weight
      --objective quality|aiq|apgr   default: apgr for 2 models, aiq with costs, else quality
      --budget-s S --workers N (default: all cores) --folds K (default 5) --seed N --json
      --half                 store the big tables (and knn references) as float16 (half the file)
      --max-cost-1k USD | --min-quality Q   calibrate the cost policy's λ to a budget on the training CV
      --encoder hashing|static:DIR|mixed:DIR   repeatable: the selection runs per encoder, the best CV is kept
  eval --router R --data TEST.jsonl [--data T2.jsonl]   replay records through a router: quality, cost, baselines
  eval --cv K --data F.jsonl [--predictor P]   K-fold cross-validation (train on K-1 folds, pool held-out)
      --registry M.json      prices (and eligibility) of the models
      --train F.jsonl        also train the TF-IDF ridge and kNN references on F and report them (with --router)
      --hidden N --k N --dim N --epochs N --seed N --buckets LOG2   training options with --cv
      --lambda X --target Q  sweep these λ / target values instead of the defaults (repeatable)
      --json                 print the report as one JSON object (default: a Markdown table)
      --svg out.svg          also write a cost-quality plot; --md out.md also write the Markdown
  export --onnx --router R --out R.onnx   write the router's network as an ONNX model (input "features", output "scores")
${SERVE_USAGE}
${REPORT_USAGE}
${LEARN_USAGE}
Options for every command: --json (info: machine-readable), --help
Environment: ROUTECORE_BACKEND=auto|cpu|cuda, ROUTECORE_THREADS=N`;

class UsageError extends Error {}

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${v}"`);
  return n;
}

async function cmdInfo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, router: { type: 'string' } }, strict: true });
  const pkg = JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string };
  const info = backendInfo();
  let defaultRouter: Record<string, unknown> | string;
  if (values.router !== undefined) {
    // A router the user names must load: a bad file is an error (exit 1 with its code), not a line of output.
    // Router.load, not loadSync: it reads every kind of router, an onnx predictor directory included.
    const r = await Router.load(values.router);
    try {
      const described = { path: values.router, models: r.models, predictor: r.predictor, encoder: r.encoder, backend: r.backend, training: r.training };
      const auto = r.auto;
      const postprocess = r.postprocess ?? null;
      if (values.json) {
        console.log(JSON.stringify({ version: pkg.version, node: process.version, backend: info, router: described, auto, postprocess }, null, 2));
        return;
      }
      console.log(`router ${values.router}: ${r.predictor} (${r.encoder} encoder, ${r.backend} backend), ${r.models.length} models: ${r.models.join(', ')}`);
      if (r.training) console.log(`trained on ${r.training.rows} rows from ${r.training.files.join(', ') || 'records in memory'}`);
      for (const l of describeRouterAuto(auto)) console.log(l);
      if (postprocess) {
        const p = postprocess;
        console.log(`scoring: ${p.members + 1} network(s) averaged, prior blend β=${p.beta}, ${p.calibration ? 'Platt calibration' : 'no calibration'}, cost ${p.costNetwork ? 'by prompt text' : p.cost ? 'by prompt length' : 'mean per model'}`);
      }
    } finally {
      r.dispose();
    }
    return;
  }
  try {
    const r = Router.loadSync('default', { backend: 'cpu' });
    defaultRouter = { path: defaultRouterPath(), models: r.models, predictor: r.predictor, description: r.metadata()['routecore.description'] ?? '' };
    r.dispose();
  } catch (err) {
    defaultRouter = `unavailable: ${(err as Error).message}`;
  }
  const out = { version: pkg.version, node: process.version, backend: info, defaultRouter };
  if (values.json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`routecore ${pkg.version} on Node ${process.version}`);
  console.log(`backends compiled in: ${info.compiled.join(', ')}`);
  console.log(`requested: ${info.requested}; chosen: ${info.chosen}`);
  console.log(`why: ${info.reason}`);
  console.log(`cuda: ${info.cuda.usable ? 'usable' : 'not usable'} (${info.cuda.detail})`);
  console.log(`cpu threads: ${info.cpuThreads}`);
  console.log(`addon: ${info.addon.source} ${info.addon.path}`);
  for (const note of info.addon.notes) console.log(`addon note: ${note}`);
  if (info.fallback) console.log(`fallback: ${info.fallback.routers} router(s) moved to cpu: ${info.fallback.reason}`);
  console.log(`default router: ${typeof defaultRouter === 'string' ? defaultRouter : JSON.stringify(defaultRouter)}`);
}

async function cmdRoute(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      router: { type: 'string' },
      'text-encoder': { type: 'string' },
      data: { type: 'string' },
      registry: { type: 'string' },
      alias: { type: 'string', multiple: true },
      policy: { type: 'string' },
      lambda: { type: 'string' },
      target: { type: 'string' },
      'max-cost': { type: 'string' },
      require: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      k: { type: 'string' },
      'subset-target': { type: 'string' },
      'max-latency': { type: 'string' },
    },
  });
  const aliases: Record<string, string> = {};
  for (const a of values.alias ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) throw new UsageError(`--alias expects ROUTER_ID=REGISTRY_ID, got "${a}"`);
    aliases[a.slice(0, eq)] = a.slice(eq + 1);
  }
  // No --policy: the router's own default, the same as Router.load, serve and the adapters (for the
  // embedded router `threshold` at its measured τ; README "The default policy"). A policy's knob
  // alone (--threshold, --lambda, --k, ...) implies that policy.
  const threshold = num(values.threshold, '--threshold');
  const k = num(values.k, '--k'), subsetTarget = num(values['subset-target'], '--subset-target'), maxLatency = num(values['max-latency'], '--max-latency');
  const lambda = num(values.lambda, '--lambda');
  const target = num(values.target, '--target');
  const maxCost = num(values['max-cost'], '--max-cost');
  const subsetKnobs = k !== undefined || subsetTarget !== undefined || maxLatency !== undefined;
  const costKnobs = lambda !== undefined || target !== undefined || maxCost !== undefined || values.require !== undefined;
  const implied = threshold !== undefined ? 'threshold' : subsetKnobs ? 'subset' : costKnobs ? 'cost' : undefined;
  const named = values.policy ?? implied;
  if (named !== undefined && !POLICIES.includes(named as PolicyName)) {
    throw new UsageError(`--policy expects ${POLICIES.slice(0, -1).join(', ')} or ${POLICIES.at(-1)}, got "${named}"`);
  }
  const policy = named as PolicyName | undefined;
  const options: RouteOptions = policy === undefined ? {} : { policy };
  if (threshold !== undefined) {
    if (policy !== 'threshold') throw new UsageError('--threshold applies to --policy threshold');
    options.threshold = threshold;
  }
  if (subsetKnobs) {
    if (policy !== 'subset') throw new UsageError('--k, --subset-target and --max-latency apply to --policy subset');
    options.subset = {};
    if (k !== undefined) options.subset.k = k;
    if (subsetTarget !== undefined) options.subset.target = subsetTarget;
    if (maxLatency !== undefined) options.subset.maxLatencyMs = maxLatency;
  }
  if (lambda !== undefined) options.lambda = lambda;
  if (target !== undefined) options.targetScore = target;
  if (maxCost !== undefined) options.maxCost = maxCost;
  if (values.require) options.require = values.require;
  if (policy !== 'cost' && costKnobs) {
    throw new UsageError('--lambda, --target, --max-cost and --require apply to --policy cost');
  }

  const encoder = await loadTextEncoder(values['text-encoder']);
  let router: Router;
  try {
    router = await Router.load(values.router ?? 'default', {
      registry: values.registry,
      aliases: Object.keys(aliases).length ? aliases : undefined,
      ...(encoder ? { encoder } : {}),
    });
  } catch (err) {
    await encoder?.dispose();
    throw err;
  }
  try {
    let items: { id?: string; prompt: string }[];
    if (values.data !== undefined) {
      if (positionals.length) throw new UsageError('give either a PROMPT or --data, not both');
      items = readOutcomes(values.data).records.map((r) => ({ id: r.id, prompt: r.prompt }));
    } else if (positionals.length) {
      items = [{ prompt: positionals.join(' ') }];
    } else if (!process.stdin.isTTY) {
      items = readFileSync(0, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((prompt) => ({ prompt }));
    } else {
      throw new UsageError('route needs a PROMPT, --data F.jsonl, or prompts on stdin (one per line)');
    }
    if (items.length === 1) {
      // The asynchronous path serves every router (an ONNX text encoder or an onnx predictor has no synchronous one).
      const one = items[0]!;
      print(one.id, await router.route(one.prompt, options));
    } else {
      const decisions = await router.routeBatch(items.map((i) => i.prompt), options);
      for (let i = 0; i < items.length; i++) print(items[i]!.id, decisions[i]!);
    }
  } finally {
    router.dispose();
    await encoder?.dispose();
  }
}

function print(id: string | undefined, decision: object): void {
  process.stdout.write(JSON.stringify(id === undefined ? decision : { id, ...decision }) + '\n');
}

const PREDICTOR_NAMES: readonly PredictorKind[] = ['mlp', 'linear', 'mf', 'knn', 'kmeans'];

function parsePredictor(value: string | undefined): PredictorKind {
  const predictor = (value ?? 'mlp') as PredictorKind;
  if (!PREDICTOR_NAMES.includes(predictor)) throw new UsageError(`--predictor expects ${PREDICTOR_NAMES.join(', ')}, got "${value}"`);
  return predictor;
}

/** The records of `files` (outcome or pairwise, in file order) and their rows from the `onnx:DIR` encoder. */
async function onnxTrainingRows(files: string[], spec: string, hashingFlags: boolean) {
  if (hashingFlags) throw new UsageError('--link-model and --buckets apply to the hashing, static and mixed encoders, not onnx:DIR');
  const records: Array<OutcomeRecord | PairwiseRecord> = [];
  for (const f of files) {
    const read = sniffFormat(f) === 'pairwise' ? readPairwise(f).records : readOutcomes(f).records;
    for (const r of read) records.push(r);
  }
  if (records.length > 0 && records.some((r) => ('modelA' in r) !== ('modelA' in records[0]!))) {
    throw new UsageError('--data files hold outcome and pairwise records: train on one format at a time');
  }
  const encoder = (await loadTextEncoder(spec, '--encoder'))!;
  process.stderr.write(`encoding ${records.length} prompts with ${encoder.name} (${encoder.dim} dims)\n`);
  const rows = await encoder.encode(records.map((r) => r.prompt));
  return { records: records as OutcomeRecord[] | PairwiseRecord[], rows, encoder };
}

/** --encoder hashing|static:DIR|mixed:DIR, --link-model and --buckets as train()'s encoder option. */
function trainEncoder(spec: string | undefined, link: boolean, buckets: number | undefined): TrainOptions['encoder'] {
  if (spec === undefined) {
    if (link) throw new UsageError('--link-model applies to --encoder static:DIR or mixed:DIR');
    return buckets === undefined ? undefined : { log2Buckets: buckets };
  }
  const choice = parseEncoderSpec(spec, '--encoder');
  if (link && choice.kind === 'hashing') throw new UsageError('--link-model applies to --encoder static:DIR or mixed:DIR');
  if (buckets !== undefined && choice.kind === 'static') throw new UsageError('--buckets applies to the hashing and mixed encoders');
  return { ...choice, embed: !link, ...(buckets === undefined ? {} : { log2Buckets: buckets }) };
}

async function cmdTrain(args: string[]): Promise<void> {
  if (args.includes('--auto')) return cmdTrainAuto(args);
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      data: { type: 'string', multiple: true },
      out: { type: 'string' },
      predictor: { type: 'string' },
      hidden: { type: 'string' },
      clusters: { type: 'string' },
      k: { type: 'string' },
      dim: { type: 'string' },
      epochs: { type: 'string' },
      'learning-rate': { type: 'string' },
      seed: { type: 'string' },
      buckets: { type: 'string' },
      encoder: { type: 'string' },
      'link-model': { type: 'boolean' },
      half: { type: 'boolean' },
      description: { type: 'string' },
    },
  });
  if (!values.data?.length) throw new UsageError('train needs at least one --data F.jsonl');
  if (!values.out) throw new UsageError('train needs --out R.router');
  const predictor = parsePredictor(values.predictor);
  const buckets = num(values.buckets, '--buckets');
  // --encoder onnx:DIR: the records' prompts through the ONNX encoder, a router on those rows that
  // records the encoder's name (route and serve take the same model with --text-encoder onnx:DIR).
  const onnx = values.encoder?.startsWith('onnx:') ? await onnxTrainingRows(values.data, values.encoder, values['link-model'] === true || buckets !== undefined) : undefined;
  // Early stopping may end training before the last epoch: end() closes the bar either way.
  const epochs = new ProgressBar('epoch', { lines: 'step' });
  const result = await train(onnx ? onnx.records : values.data, {
    predictor,
    hidden: num(values.hidden, '--hidden'),
    clusters: num(values.clusters, '--clusters'),
    k: num(values.k, '--k'),
    dim: num(values.dim, '--dim'),
    maxEpochs: num(values.epochs, '--epochs'),
    learningRate: num(values['learning-rate'], '--learning-rate'),
    seed: num(values.seed, '--seed'),
    ...(onnx ? { embeddings: onnx.rows, router: { encoder: onnx.encoder } } : { encoder: trainEncoder(values.encoder, values['link-model'] === true, buckets) }),
    description: values.description,
    onEpoch: (e) => epochs.update(e.epoch, e.maxEpochs, `train loss ${e.trainLoss.toFixed(4)}, validation loss ${e.validationLoss.toFixed(4)}`),
  }).finally(() => epochs.end());
  await result.router.save(values.out, { halfPrecision: values.half === true });
  await onnx?.encoder.dispose();
  const { report, summary } = result;
  const iterative = predictor !== 'knn' && predictor !== 'kmeans';
  process.stderr.write(
    `trained ${predictor} on ${summary.rows} ${summary['objective'] === 'pairwise' ? 'battles' : 'prompts'} x ${Object.keys(summary.models).length} models in ${result.seconds.toFixed(1)} s` +
      (iterative ? `: best epoch ${report.bestEpoch}/${report.epochs}, validation loss ${report.bestValidationLoss.toFixed(4)}` : '') +
      `; wrote ${values.out}\n`,
  );
  result.router.dispose();
}

async function cmdEval(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      router: { type: 'string' },
      data: { type: 'string', multiple: true },
      registry: { type: 'string' },
      cv: { type: 'string' },
      predictor: { type: 'string' },
      hidden: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      buckets: { type: 'string' },
      k: { type: 'string' },
      dim: { type: 'string' },
      lambda: { type: 'string', multiple: true },
      target: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      svg: { type: 'string' },
      md: { type: 'string' },
      train: { type: 'string', multiple: true },
    },
  });
  if (!values.data?.length) throw new UsageError('eval needs at least one --data F.jsonl');
  if (values.train && values.router === undefined) throw new UsageError('--train (the TF-IDF references\' training data) applies to eval --router');
  const cv = num(values.cv, '--cv');
  if (cv === undefined && values.router === undefined) throw new UsageError('eval needs --router R, or --cv K for cross-validation');
  if (cv !== undefined && values.router !== undefined) throw new UsageError('give either --router or --cv, not both');
  if (cv !== undefined && (!Number.isInteger(cv) || cv < 2)) throw new UsageError(`--cv expects an integer >= 2, got "${values.cv}"`);
  if (cv === undefined && (values.predictor || values.hidden || values.epochs || values.seed || values.buckets || values.k || values.dim)) {
    throw new UsageError('--predictor, --hidden, --k, --dim, --epochs, --seed and --buckets apply to --cv');
  }
  const lambdas = values.lambda?.map((v) => num(v, '--lambda')!);
  const targets = values.target?.map((v) => num(v, '--target')!);
  const registry = values.registry === undefined ? undefined : Registry.fromFile(values.registry);
  const records = values.data.flatMap((f) => readOutcomes(f).records);
  let report: EvalReport;
  if (cv !== undefined) {
    const predictor = parsePredictor(values.predictor);
    const buckets = num(values.buckets, '--buckets');
    process.stderr.write(`cross-validating ${predictor} on ${records.length} records, ${cv} folds\n`);
    report = await crossValidate(records, {
      folds: cv,
      registry,
      lambdas,
      targets,
      trainOptions: {
        predictor,
        hidden: num(values.hidden, '--hidden'),
        k: num(values.k, '--k'),
        dim: num(values.dim, '--dim'),
        maxEpochs: num(values.epochs, '--epochs'),
        seed: num(values.seed, '--seed'),
        encoder: buckets === undefined ? undefined : { log2Buckets: buckets },
      },
      onProgress: progressCallback('folds'),
    });
  } else {
    const router = await Router.load(values.router!);
    try {
      report = await evaluate(router, records, { registry, lambdas, targets, onProgress: progressCallback('scoring', { unit: 'prompts' }) });
      if (values.train) await addReferences(report, values.train.flatMap((f) => readOutcomes(f).records), records, { registry, lambdas, targets });
    } finally {
      router.dispose();
    }
  }
  const md = renderMarkdown(report);
  if (values.svg) writeFileSync(values.svg, renderSvg(report));
  if (values.md) writeFileSync(values.md, md);
  for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(values.json ? JSON.stringify(report) + '\n' : md);
}

async function cmdExport(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { onnx: { type: 'boolean' }, router: { type: 'string' }, out: { type: 'string' } } });
  if (!values.onnx) throw new UsageError('export needs a format: --onnx');
  if (!values.out) throw new UsageError('export needs --out R.onnx');
  const path = values.router === undefined || values.router === 'default' ? defaultRouterPath() : values.router;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read router file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const onnx = exportOnnx(bytes);
  try {
    writeFileSync(values.out, onnx);
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot write ${values.out}: ${(err as Error).message}`, { cause: err });
  }
  process.stderr.write(`wrote ${values.out} (${onnx.length} bytes): ONNX opset 13, input "features", output "scores"\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const known = commandSections(USAGE).has(command);
  if (known && (rest.includes('--help') || rest.includes('-h'))) {
    console.log(commandHelp(USAGE, command));
    return 0;
  }
  try {
    if (command === 'info') await cmdInfo(rest);
    else if (command === 'route') await cmdRoute(rest);
    else if (command === 'train') await cmdTrain(rest);
    else if (command === 'calibrate') await cmdCalibrate(rest, (m) => new UsageError(m));
    else if (command === 'eval') await cmdEval(rest);
    else if (command === 'export') await cmdExport(rest);
    else if (command === 'serve' || command === 'log') await (command === 'serve' ? cmdServe : cmdLog)(rest);
    else if (command === 'report' || command === 'learn') await (command === 'report' ? cmdReport : cmdLearn)(rest);
    else throw new UsageError(unknownCommandMessage(USAGE, command));
    return 0;
  } catch (err) {
    // A usage error is one line that stays visible, then where the help is (not the whole help).
    const parsed = parseArgsMessage(err as { code?: unknown; message?: unknown }, USAGE, command);
    if (parsed !== undefined || err instanceof UsageError || err instanceof ServeUsageError || err instanceof AutoUsageError || err instanceof ReportUsageError || err instanceof LearnUsageError) {
      process.stderr.write(`routecore: ${parsed ?? (err as Error).message}\n${helpHint(known ? command : undefined)}\n`);
      return 2;
    }
    if (isRoutecoreError(err)) {
      process.stderr.write(`routecore: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A command that set its own failure code (serve --workers when a worker failed) keeps it.
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
    exitFailedWorker(code);
  },
  (err: unknown) => {
    process.stderr.write(`routecore: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof RoutecoreError ? 1 : 70;
    exitFailedWorker(process.exitCode);
  },
);
