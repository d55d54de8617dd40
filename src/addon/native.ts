/**
 * The one place that loads the compiled addon. Everything else imports the typed binding from here;
 * the raw binding is internal and may change between versions.
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';
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
}

/** @internal */
export interface NativeRouterHandle {
  readonly outputs: number;
  readonly predictor: string;
  readonly backend: string;
  readonly encoder: 'hashing' | 'precomputed';
  readonly inputDim: number;
  scoreEmbeddingsSync(x: Float32Array, count: number, dim: number, out: Float32Array): void;
  scoreEmbeddings(x: Float32Array, count: number, dim: number, out: Float32Array): Promise<void>;
  scoreSync(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): void;
  score(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): Promise<void>;
  encode(text: Uint8Array, offsets: Uint32Array, count: number): { rowStart: Uint32Array; index: Uint32Array; value: Float32Array };
  serialize(halfPrecision: boolean): Buffer;
  metadata(): Record<string, string>;
  setMetadata(key: string, value: string): void;
  dispose(): void;
}

/** @internal */
export interface NativeBinding {
  backendInfo(request: string, threads: number): NativeBackendReport;
  NativeRouter: {
    load(bytes: Uint8Array, source: string, backend: string, threads: number): NativeRouterHandle;
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

let cached: NativeBinding | undefined;

/** The package root: the nearest ancestor of this module holding CMakeLists.txt (above src/<folder>/ or dist/src/<folder>/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'CMakeLists.txt')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new RoutecoreError('ERR_ROUTECORE_INTERNAL', `cannot find the routecore package root above ${fileURLToPath(import.meta.url)}`);
}

/** @internal Loads (once) and returns the compiled addon. */
export function binding(): NativeBinding {
  if (cached) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'routecore.node');
  if (!existsSync(path)) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INTERNAL',
      `the native addon is not built (${path} is missing): run \`npm install\` or \`npm run build:native\` in the routecore package`,
    );
  }
  cached = createRequire(import.meta.url)(path) as NativeBinding;
  return cached;
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
