/**
 * Backend choice. `ROUTECORE_BACKEND` (auto | cpu | cuda) and `ROUTECORE_THREADS` are read once,
 * validated here with a message naming the variable, and passed to the addon explicitly.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import { addonLoad, binding, rethrowNative, type AddonSource, type NativeBackendReport } from './native.js';

export type { AddonSource } from './native.js';

/** Which compute backend to use: `auto` = CUDA when compiled in and a device is present, else CPU. */
export type BackendRequest = 'auto' | 'cpu' | 'cuda';

/** The resolved backend settings. */
export interface BackendSettings {
  backend: BackendRequest;
  /** CPU worker threads; 0 = one per hardware thread. */
  threads: number;
}

const BACKENDS: readonly BackendRequest[] = ['auto', 'cpu', 'cuda'];

/**
 * Reads `ROUTECORE_BACKEND` and `ROUTECORE_THREADS` from `env`. Unset means `auto` and 0 (all
 * hardware threads). Throws ERR_ROUTECORE_BAD_BACKEND for an unknown backend name and
 * ERR_ROUTECORE_INVALID_ARGUMENT for a bad thread count.
 */
export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const raw = env.ROUTECORE_BACKEND;
  const name = raw === undefined || raw.trim() === '' ? 'auto' : raw.trim().toLowerCase();
  if (!BACKENDS.includes(name as BackendRequest)) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_BACKEND', `ROUTECORE_BACKEND="${raw}" is not a backend: expected one of auto, cpu, cuda`);
  }
  const t = env.ROUTECORE_THREADS;
  let threads = 0;
  if (t !== undefined && t.trim() !== '') {
    threads = Number(t);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `ROUTECORE_THREADS="${t}" must be an integer from 1 to 1024`);
    }
  }
  return { backend: name as BackendRequest, threads };
}

/** Merges explicit options over the environment; explicit values are validated too. */
export function resolveBackend(options: { backend?: unknown; threads?: unknown } = {}): BackendSettings {
  const fromEnv = backendFromEnv();
  let backend = fromEnv.backend;
  if (options.backend !== undefined) {
    if (!BACKENDS.includes(options.backend as BackendRequest)) throw invalidArgument('options.backend', '"auto", "cpu" or "cuda"', options.backend);
    backend = options.backend as BackendRequest;
  }
  let threads = fromEnv.threads;
  if (options.threads !== undefined) {
    if (!Number.isInteger(options.threads) || (options.threads as number) < 0 || (options.threads as number) > 1024) {
      throw invalidArgument('options.threads', 'an integer from 0 (all hardware threads) to 1024', options.threads);
    }
    threads = options.threads as number;
  }
  return { backend, threads };
}

/** What `routecore info` prints: compiled-in backends, the chosen one and why. */
export interface BackendInfo {
  /** Backends compiled into this build of the addon, e.g. `['cpu', 'cuda']`. */
  compiled: string[];
  /** The value asked for (ROUTECORE_BACKEND or the option). */
  requested: BackendRequest;
  /** The backend routers will use. */
  chosen: 'cpu' | 'cuda';
  /** Why `chosen` was picked, in a sentence. */
  reason: string;
  /** Whether a CUDA device can be used, and its description or the reason it cannot. */
  cuda: { compiled: boolean; usable: boolean; detail: string };
  /** CPU worker threads. */
  cpuThreads: number;
  /**
   * The addon file in use: a local build (build/Release, compiled in this checkout or by the
   * install script) or a prebuilt platform package; `notes` says why a candidate before it was
   * not used, e.g. the CUDA package's failed test load.
   */
  addon: { source: AddonSource; path: string; notes: string[] };
  /**
   * Set when a backend failed at run time (a CUDA error) and routers of this process moved to the
   * CPU backend: how many, and the error that moved the first. `null` while none has.
   */
  fallback: { routers: number; reason: string } | null;
  /**
   * The onnxruntime execution provider of the onnx encoders and predictors this process has
   * created (`OnnxEncoder.load`, `Router.load` of an onnx predictor directory): the provider of the
   * latest (`cpu` or `cuda`), why it was chosen, and how many sessions were made on each. `null`
   * while none has been created: onnxruntime-node is an optional peer loaded only then, so its
   * providers are not known before (each encoder's `executionProvider` says the same per session).
   */
  onnx: { provider: 'cpu' | 'cuda'; reason: string; sessions: { cpu: number; cuda: number } } | null;
}

// The onnx sessions of this process (see BackendInfo.onnx); written by src/encoders/onnx.ts.
let onnxSessions: { provider: 'cpu' | 'cuda'; reason: string; sessions: { cpu: number; cuda: number } } | null = null;

/** @internal Records that an onnx session was created on `provider` (for {@link backendInfo}). */
export function noteOnnxSession(provider: 'cpu' | 'cuda', reason: string): void {
  onnxSessions ??= { provider, reason, sessions: { cpu: 0, cuda: 0 } };
  onnxSessions.provider = provider;
  onnxSessions.reason = reason;
  onnxSessions.sessions[provider]++;
}

/**
 * Reports the backends compiled in and which one `settings` (default: from the environment)
 * selects. Throws ERR_ROUTECORE_BACKEND_UNAVAILABLE when `cuda` is requested and cannot be used.
 */
export function backendInfo(settings: BackendSettings = backendFromEnv()): BackendInfo {
  let r: NativeBackendReport;
  try {
    r = binding().backendInfo(settings.backend, settings.threads);
  } catch (err) {
    rethrowNative(err);
  }
  return {
    compiled: r.compiled,
    requested: settings.backend,
    chosen: r.chosen,
    reason: r.reason,
    cuda: { compiled: r.cudaCompiled, usable: r.cudaUsable, detail: r.cudaDetail },
    cpuThreads: r.cpuThreads,
    addon: addonLoad(),
    fallback: r.fallbackRouters > 0 ? { routers: r.fallbackRouters, reason: r.fallbackReason } : null,
    onnx: onnxSessions === null ? null : { ...onnxSessions, sessions: { ...onnxSessions.sessions } },
  };
}
