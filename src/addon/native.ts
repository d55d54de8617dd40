/**
 * The one place that loads the compiled addon. Everything else imports the typed binding from here;
 * the raw binding is internal and may change between versions.
 * @internal
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RoutecoreError, type ErrorCode } from '../errors.js';

/** @internal */
export interface NativeBackendReport {
  compiled: string[];
  cudaCompiled: boolean;
  cudaUsable: boolean;
  cudaDetail: string;
  chosen: 'cpu' | 'cuda';
  reason: string;
  cpuThreads: number;
  /** Routers of this process that moved from a failing backend (CUDA) to the CPU one. */
  fallbackRouters: number;
  /** The error that moved the first of them; '' when none did. */
  fallbackReason: string;
}

/** @internal */
export interface NativeTrainReport {
  epochs: number;
  bestEpoch: number;
  trainRows: number;
  validationRows: number;
  bestValidationLoss: number;
  finalTrainLoss: number;
  stoppedEarly: boolean;
}

/** @internal */
export interface NativeEpochInfo {
  epoch: number;
  maxEpochs: number;
  trainLoss: number;
  validationLoss: number;
}

/** @internal The options object NativeRouter.train reads; every field optional. */
export interface NativeTrainOptions {
  log2Buckets?: number;
  wordNgramMax?: number;
  charNgramMin?: number;
  charNgramMax?: number;
  hidden?: number;
  learningRate?: number;
  weightDecay?: number;
  batchSize?: number;
  maxEpochs?: number;
  patience?: number;
  validationFraction?: number;
  seed?: number;
  predictor?: 'mlp' | 'linear' | 'mf' | 'knn' | 'kmeans';
  /** labels hold rows x 3 (model a, model b, outcome) battles instead of rows x models scores. */
  pairwise?: boolean;
  k?: number;
  dim?: number;
  clusters?: number;
  restarts?: number;
  /** The static (model2vec) encoder: the router's only one, or beside hashing with `mixed`. */
  staticEncoder?: NativeStaticEncoderHandle;
  mixed?: boolean;
  /** false: the router file names the static model (hashes in metadata) instead of carrying it. */
  embedStatic?: boolean;
}

/** @internal */
export interface NativeRouterHandle {
  readonly outputs: number;
  readonly predictor: string;
  readonly backend: string;
  readonly encoder: 'hashing' | 'static' | 'mixed' | 'precomputed' | 'onnx';
  readonly inputDim: number;
  /** True for a handle that scores only asynchronously (the onnx predictor's): the router never calls scoreSync for small batches. */
  readonly asyncOnly?: boolean;
  scoreEmbeddingsSync(x: Float32Array, count: number, dim: number, out: Float32Array): void;
  scoreEmbeddings(x: Float32Array, count: number, dim: number, out: Float32Array): Promise<void>;
  scoreSync(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): void;
  score(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): Promise<void>;
  encode(text: Uint8Array, offsets: Uint32Array, count: number): { rowStart: Uint32Array; index: Uint32Array; value: Float32Array };
  /** out[i]: the largest cosine of prompt i to the router's coverage sketch (RouteLLM's benchmark-dataset similarity). */
  coverage(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): void;
  serialize(halfPrecision: boolean): Buffer;
  metadata(): Record<string, string>;
  setMetadata(key: string, value: string): void;
  dispose(): void;
}

/** @internal routecore::Tokenizer: tokenizer.json -> ids (no special tokens added). */
export interface NativeTokenizerHandle {
  readonly vocabSize: number;
  readonly unkId: number | null;
  readonly modelType: 'WordPiece' | 'Unigram';
  /** ids of prompt i are ids[offsets[i] .. offsets[i+1]). */
  encode(text: Uint8Array, offsets: Uint32Array, count: number): { ids: Uint32Array; offsets: Uint32Array };
}

/** @internal routecore::StaticEncoder: text -> L2-normalised mean of token rows (model2vec). */
export interface NativeStaticEncoderHandle {
  readonly dim: number;
  readonly rows: number;
  /** Writes count x dim floats into out; returns the tokens used per prompt (0: an all-zero row). */
  embed(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): Uint32Array;
}

/**
 * @internal routecore::SparseIndex: the similarity scatter of the TF-IDF kNN router (postings of
 * CSR rows; similarities of CSR queries to every row, count x rows, accumulated as tfidf-knn.ts did).
 */
export interface NativeSparseIndexHandle {
  readonly rows: number;
  similaritiesSync(start: Uint32Array, index: Uint32Array, value: Float32Array, count: number, out: Float32Array): void;
  /** On copies of the query, on the addon's worker thread; `out` is filled when it settles. */
  similarities(start: Uint32Array, index: Uint32Array, value: Float32Array, count: number, out: Float32Array): Promise<void>;
  dispose(): void;
}

/** @internal */
export interface NativeBinding {
  backendInfo(request: string, threads: number): NativeBackendReport;
  NativeTokenizer: new (json: Uint8Array, source: string) => NativeTokenizerHandle;
  /** Absent from an addon built before it (a prebuilt binary of an older version): tfidf-knn.ts then scatters in TypeScript. */
  NativeSparseIndex?: new (rowStart: Uint32Array, index: Uint32Array, value: Float32Array, buckets: number) => NativeSparseIndexHandle;
  NativeStaticEncoder: new (
    tokenizerJson: Uint8Array,
    tokenizerSource: string,
    safetensors: Uint8Array,
    safetensorsSource: string,
    maxTokens: number,
    halfTable?: boolean,
  ) => NativeStaticEncoderHandle;
  NativeRouter: {
    /**
     * staticEncoder: the model of a router file that names its static model instead of carrying it
     * (a loaded model, or a loaded router whose static encoder is shared: an ensemble's members).
     */
    load(bytes: Uint8Array, source: string, backend: string, threads: number, staticEncoder?: NativeStaticEncoderHandle | NativeRouterHandle): NativeRouterHandle;
    train(
      text: Uint8Array,
      offsets: Uint32Array,
      count: number,
      labels: Float32Array,
      models: number,
      options: NativeTrainOptions,
      metadata: Record<string, string>,
      backend: string,
      threads: number,
      onEpoch?: (info: NativeEpochInfo) => void,
    ): Promise<{ router: NativeRouterHandle; report: NativeTrainReport }>;
    trainEmbeddings(
      x: Float32Array,
      count: number,
      dim: number,
      labels: Float32Array,
      models: number,
      options: NativeTrainOptions,
      metadata: Record<string, string>,
      backend: string,
      threads: number,
      onEpoch?: (info: NativeEpochInfo) => void,
    ): Promise<{ router: NativeRouterHandle; report: NativeTrainReport }>;
  };
}

/** Where the loaded addon came from. */
export type AddonSource = 'local-build' | 'platform-package' | 'platform-package-cuda';

/** @internal The addon that was loaded, and what was tried or set aside on the way. */
export interface AddonLoad {
  source: AddonSource;
  path: string;
  /** Why a candidate tried before this one was not used (e.g. the CUDA package's failed test load). */
  notes: string[];
}

/** The platform packages published next to the main package (see npm/ and package.json "napi"). */
export const PREBUILT_TRIPLES: readonly string[] = ['linux-x64-gnu', 'linux-arm64-gnu', 'darwin-arm64', 'darwin-x64', 'win32-x64-msvc'];
/** Platforms that also have a CUDA variant package, `routecore-<triple>-cuda`. */
export const CUDA_TRIPLES: readonly string[] = ['linux-x64-gnu'];

/**
 * The napi-rs style name of this platform, e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`:
 * the suffix of the platform package that fits it. Linux is `gnu` when the process runs on glibc,
 * else `musl`.
 */
export function platformTriple(platform: string = process.platform, arch: string = process.arch, glibc: boolean = runsOnGlibc()): string {
  if (platform === 'linux') return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function runsOnGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/** @internal One place the loader looks for the addon. */
export interface AddonCandidate {
  source: AddonSource;
  /** What the error message calls it, e.g. `platform package routecore-linux-x64-gnu`. */
  label: string;
  /** The .node file, or undefined when the package is not installed. */
  path: string | undefined;
}

/** @internal The verdict of a test load in a child process. */
export type ProbeVerdict = { ok: true } | { ok: false; reason: string };

/** @internal Everything the loader depends on, so tests can point it at other files. */
export interface LoaderEnvironment {
  root: string;
  triple: string;
  /** The .node file a platform package holds, or undefined when it is not installed. */
  resolvePackage(name: string): string | undefined;
  /** Test-loads a CUDA binary in a child process. */
  probe(path: string): ProbeVerdict;
  /** The raw ROUTECORE_BACKEND value. */
  backendRequest: string | undefined;
  load(path: string): NativeBinding;
}

/** @internal The candidates in the order the loader tries them. */
export function addonCandidates(env: Pick<LoaderEnvironment, 'root' | 'triple' | 'resolvePackage'>): AddonCandidate[] {
  const out: AddonCandidate[] = [];
  // A local build exists only where someone compiled one: the developer checkout, or an install
  // whose script built from source (no prebuilt fitted, or ROUTECORE_BUILD_FROM_SOURCE /
  // ROUTECORE_CUDA=ON asked for it). Either way it is what the user wants, so it comes first.
  const local = join(env.root, 'build', 'Release', 'routecore.node');
  out.push({ source: 'local-build', label: `local build ${local}`, path: existsSync(local) ? local : undefined });
  if (CUDA_TRIPLES.includes(env.triple)) {
    const name = `routecore-${env.triple}-cuda`;
    out.push({ source: 'platform-package-cuda', label: `platform package ${name}`, path: env.resolvePackage(name) });
  }
  const name = `routecore-${env.triple}`;
  out.push({ source: 'platform-package', label: `platform package ${name}`, path: env.resolvePackage(name) });
  return out;
}

/**
 * @internal Loads the first candidate that works. A CUDA package is used only when a test load in
 * a child process succeeded and saw a usable device (a broken driver can crash the process that
 * loads it); otherwise the reason is kept in `notes` and the CPU package is tried.
 */
export function loadAddon(env: LoaderEnvironment): { binding: NativeBinding; load: AddonLoad } {
  const tried: string[] = [];
  const notes: string[] = [];
  for (const c of addonCandidates(env)) {
    if (c.path === undefined) {
      tried.push(`${c.label}: ${c.source === 'local-build' ? 'not built' : 'not installed'}`);
      continue;
    }
    if (c.source === 'platform-package-cuda') {
      if ((env.backendRequest ?? '').trim().toLowerCase() === 'cpu') {
        tried.push(`${c.label}: skipped (ROUTECORE_BACKEND=cpu)`);
        continue;
      }
      const verdict = env.probe(c.path);
      if (!verdict.ok) {
        tried.push(`${c.label} (${c.path}): ${verdict.reason}`);
        notes.push(`the CUDA package was not used: ${verdict.reason}`);
        continue;
      }
    }
    try {
      return { binding: env.load(c.path), load: { source: c.source, path: c.path, notes } };
    } catch (err) {
      tried.push(`${c.label} (${c.path}): failed to load: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new RoutecoreError('ERR_ROUTECORE_ADDON_UNAVAILABLE', addonMissingMessage(env.triple, tried));
}

function addonMissingMessage(triple: string, tried: string[]): string {
  const prebuilt = PREBUILT_TRIPLES.includes(triple);
  const lines = [
    `the routecore native addon could not be loaded on ${triple} (Node ${process.version}). Tried, in order:`,
    ...tried.map((t, i) => `  ${i + 1}. ${t}`),
    'How to fix it:',
    prebuilt
      ? `  - install the prebuilt binary: reinstall routecore without --omit=optional / --no-optional (it pulls routecore-${triple} as an optional dependency), or \`npm install routecore-${triple}\``
      : `  - there is no prebuilt package for ${triple} (prebuilt: ${PREBUILT_TRIPLES.join(', ')}); build from source instead`,
    '  - or build from source: install CMake >= 3.18 and a C++17 compiler, then `npm rebuild routecore` (ROUTECORE_CUDA=ON to include the CUDA backend; see the README, "Installing")',
  ];
  return lines.join('\n');
}

/** @internal Test-loads `path` in a child process: loads it and asks for the backend report. */
export function probeCudaBinary(path: string): ProbeVerdict {
  const script = "const b=require(process.env.ROUTECORE_PROBE_ADDON);const r=b.backendInfo('auto',1);process.stdout.write(JSON.stringify(r));";
  const res = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, ROUTECORE_PROBE_ADDON: path },
    encoding: 'utf8',
    timeout: PROBE_TIMEOUT_MS,
    windowsHide: true,
  });
  if (res.error) return { ok: false, reason: `test load could not run: ${res.error.message}` };
  if (res.signal) return { ok: false, reason: `test load was killed by ${res.signal}${res.signal === 'SIGTERM' ? ` (no answer in ${PROBE_TIMEOUT_MS / 1000} s)` : ''}` };
  if (res.status !== 0) {
    const last = (res.stderr ?? '').trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? '';
    return { ok: false, reason: `test load exited with code ${res.status}${last ? `: ${last.trim().slice(0, 300)}` : ''}` };
  }
  let report: Partial<NativeBackendReport>;
  try {
    report = JSON.parse(res.stdout) as Partial<NativeBackendReport>;
  } catch {
    return { ok: false, reason: `test load printed no backend report (stdout: ${JSON.stringify(res.stdout.slice(0, 120))})` };
  }
  if (report.cudaUsable !== true) return { ok: false, reason: `the test load saw no usable device (${report.cudaDetail ?? 'no detail'})` };
  return { ok: true };
}

/** Generous: a test load takes a fraction of a second; a wedged driver takes forever. */
const PROBE_TIMEOUT_MS = 60_000;

/** The .node file of an installed platform package, found by Node's resolution from this module. */
function resolvePlatformPackage(name: string): string | undefined {
  const require = createRequire(import.meta.url);
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { main?: string };
  const file = join(dirname(manifestPath), manifest.main ?? `routecore.${name.slice('routecore-'.length).replace(/-cuda$/, '')}.node`);
  return existsSync(file) ? file : undefined;
}

let cached: { binding: NativeBinding; load: AddonLoad } | undefined;

/**
 * The package root: the nearest ancestor of this module whose package.json is routecore's
 * (above src/<folder>/ or dist/src/<folder>/).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'routecore') return dir;
      } catch {
        // not ours (or unreadable): keep climbing
      }
    }
    dir = dirname(dir);
  }
  throw new RoutecoreError('ERR_ROUTECORE_INTERNAL', `cannot find the routecore package root above ${fileURLToPath(import.meta.url)}`);
}

function loadOnce(): { binding: NativeBinding; load: AddonLoad } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  cached = loadAddon({
    root: packageRoot(),
    triple: platformTriple(),
    resolvePackage: resolvePlatformPackage,
    probe: probeCudaBinary,
    backendRequest: process.env.ROUTECORE_BACKEND,
    load: (path) => require(path) as NativeBinding,
  });
  return cached;
}

/** @internal Loads (once per module instance, so once per thread) and returns the compiled addon. */
export function binding(): NativeBinding {
  return loadOnce().binding;
}

/** @internal Which addon file was loaded and why earlier candidates were not. Loads it if needed. */
export function addonLoad(): AddonLoad {
  const { load } = loadOnce();
  return { ...load, notes: [...load.notes] };
}

/**
 * Rethrows an error from the addon as a RoutecoreError with the same stable code, so callers see
 * one error type; the native error stays as `cause`.
 * @internal
 */
export function rethrowNative(err: unknown, context?: string): never {
  if (err instanceof RoutecoreError) throw err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' && e.code.startsWith('ERR_ROUTECORE_') ? (e.code as ErrorCode) : 'ERR_ROUTECORE_INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  throw new RoutecoreError(code, context ? `${context}: ${message}` : message, { cause: err });
}
