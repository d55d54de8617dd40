/**
 * Backend choice: what backendInfo() reports about the compiled addon, and how ROUTECORE_BACKEND /
 * ROUTECORE_THREADS are parsed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { backendFromEnv, backendInfo, resolveBackend } from '../src/addon/backend.js';
import { RoutecoreError } from '../src/errors.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';
import { caught } from './helpers/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Whether this build compiled the CUDA backend, judged from the CMake cache the addon was built
 * with (CMakeLists.txt: ROUTECORE_CUDA AUTO/ON builds it when CMake finds nvcc). undefined when
 * there is no cache to read.
 */
function cudaExpectedFromBuild(): boolean | undefined {
  const cache = join(ROOT, 'build', 'CMakeCache.txt');
  if (!existsSync(cache)) return undefined;
  const text = readFileSync(cache, 'utf8');
  const option = /^ROUTECORE_CUDA:\w+=(\S*)/m.exec(text)?.[1];
  if (option === 'OFF') return false;
  const compiler = /^CMAKE_CUDA_COMPILER:\w+=(.*)$/m.exec(text)?.[1]?.trim();
  return compiler !== undefined && compiler !== '' && !compiler.endsWith('NOTFOUND');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('backendInfo()', () => {
  it('lists the compiled backends: always cpu, and cuda when the build found nvcc', () => {
    const info = backendInfo({ backend: 'auto', threads: 0 });
    expect(info.compiled[0]).toBe('cpu');
    expect(info.compiled.every((b) => b === 'cpu' || b === 'cuda')).toBe(true);
    expect(new Set(info.compiled).size).toBe(info.compiled.length);
    expect(info.cuda.compiled).toBe(info.compiled.includes('cuda'));
    const expected = cudaExpectedFromBuild();
    if (expected !== undefined) expect(info.cuda.compiled).toBe(expected);
  });

  it('auto picks cuda when a device is usable, else cpu with a reason that mentions auto and why', () => {
    const info = backendInfo({ backend: 'auto', threads: 0 });
    expect(info.requested).toBe('auto');
    expect(typeof info.cuda.usable).toBe('boolean');
    expect(info.cuda.detail.length).toBeGreaterThan(0);
    expect(info.reason).toMatch(/auto/);
    if (info.cuda.usable) {
      expect(info.chosen).toBe('cuda');
    } else {
      expect(info.chosen).toBe('cpu');
      expect(info.reason).toMatch(/CPU/i);
      // The reason says why CUDA was not used: the probe's detail, or "not compiled in".
      expect(info.reason).toContain(info.cuda.detail);
      if (!info.cuda.compiled) expect(info.cuda.detail).toMatch(/no CUDA backend|nvcc/);
    }
  });

  it('cpu requested: cpu chosen, CUDA not probed, thread count honoured', () => {
    const info = backendInfo({ backend: 'cpu', threads: 3 });
    expect(info.requested).toBe('cpu');
    expect(info.chosen).toBe('cpu');
    expect(info.reason).toMatch(/cpu/);
    expect(info.cpuThreads).toBe(3);
    expect(info.cuda.usable).toBe(false);
    if (info.cuda.compiled) expect(info.cuda.detail).toMatch(/not probed/);
  });

  it('fallback is null while no router has left a failing backend', () => {
    // The fallback itself (a CUDA error mid-run) is tested natively: test_backend_fallback (a
    // stand-in backend that fails on demand) and test_cuda_fault (a real device fault, GPU only).
    const info = backendInfo({ backend: 'auto', threads: 0 });
    expect(info.fallback).toBeNull();
  });

  it('threads 0 means one per hardware thread', () => {
    const info = backendInfo({ backend: 'cpu', threads: 0 });
    expect(Number.isInteger(info.cpuThreads)).toBe(true);
    expect(info.cpuThreads).toBeGreaterThanOrEqual(1);
  });

  it('cuda requested: chosen when usable, otherwise ERR_ROUTECORE_BACKEND_UNAVAILABLE with the reason', () => {
    const auto = backendInfo({ backend: 'auto', threads: 0 });
    if (auto.cuda.usable) {
      const info = backendInfo({ backend: 'cuda', threads: 0 });
      expect(info.chosen).toBe('cuda');
      expect(info.reason).toMatch(/cuda/);
    } else {
      let err: unknown;
      try {
        backendInfo({ backend: 'cuda', threads: 0 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RoutecoreError);
      expect((err as RoutecoreError).code).toBe('ERR_ROUTECORE_BACKEND_UNAVAILABLE');
      expect((err as RoutecoreError).message).toContain(auto.cuda.detail);
    }
  });

  it('reads the environment by default', () => {
    vi.stubEnv('ROUTECORE_BACKEND', 'cpu');
    vi.stubEnv('ROUTECORE_THREADS', '2');
    const info = backendInfo();
    expect(info.requested).toBe('cpu');
    expect(info.chosen).toBe('cpu');
    expect(info.cpuThreads).toBe(2);
  });

  it('routers and training use the chosen backend', async () => {
    const info = backendInfo({ backend: 'auto', threads: 0 });
    const { router } = await train(
      [
        { id: 'a', prompt: 'add two numbers', scores: { a: 1, b: 0 } },
        { id: 'b', prompt: 'write a poem', scores: { a: 0, b: 1 } },
      ],
      { hidden: 4, encoder: { log2Buckets: 10 }, maxEpochs: 2, backend: 'cpu' },
    );
    try {
      expect(router.backend).toBe('cpu');
      const auto = Router.loadSync(router.serialize(), { backend: 'auto' });
      expect(auto.backend).toBe(info.chosen);
      auto.dispose();
    } finally {
      router.dispose();
    }
  });
});

describe('ROUTECORE_BACKEND / ROUTECORE_THREADS parsing', () => {

  it('unset or blank means auto and 0 (all hardware threads)', () => {
    expect(backendFromEnv({})).toEqual({ backend: 'auto', threads: 0 });
    expect(backendFromEnv({ ROUTECORE_BACKEND: '', ROUTECORE_THREADS: '' })).toEqual({ backend: 'auto', threads: 0 });
    expect(backendFromEnv({ ROUTECORE_BACKEND: '  ', ROUTECORE_THREADS: ' ' })).toEqual({ backend: 'auto', threads: 0 });
  });

  it('accepts auto, cpu, cuda case-insensitively with surrounding spaces', () => {
    expect(backendFromEnv({ ROUTECORE_BACKEND: 'cpu' }).backend).toBe('cpu');
    expect(backendFromEnv({ ROUTECORE_BACKEND: ' CPU ' }).backend).toBe('cpu');
    expect(backendFromEnv({ ROUTECORE_BACKEND: 'Cuda' }).backend).toBe('cuda');
    expect(backendFromEnv({ ROUTECORE_BACKEND: 'AUTO' }).backend).toBe('auto');
  });

  it('refuses other backend names with ERR_ROUTECORE_BAD_BACKEND quoting the raw value', () => {
    for (const raw of ['gpu', 'cpu,cuda', 'opencl']) {
      expect(() => backendFromEnv({ ROUTECORE_BACKEND: raw })).toThrow(`ROUTECORE_BACKEND="${raw}" is not a backend: expected one of auto, cpu, cuda`);
      expect(caught(() => backendFromEnv({ ROUTECORE_BACKEND: raw })).code).toBe('ERR_ROUTECORE_BAD_BACKEND');
    }
  });

  it('parses thread counts from 1 to 1024', () => {
    expect(backendFromEnv({ ROUTECORE_THREADS: '1' }).threads).toBe(1);
    expect(backendFromEnv({ ROUTECORE_THREADS: '4' }).threads).toBe(4);
    expect(backendFromEnv({ ROUTECORE_THREADS: ' 8 ' }).threads).toBe(8);
    expect(backendFromEnv({ ROUTECORE_THREADS: '1024' }).threads).toBe(1024);
  });

  it('refuses non-integers and out-of-range thread counts, naming the variable and value', () => {
    for (const raw of ['many', '0', '-2', '1.5', '1025', 'NaN', '4 threads']) {
      expect(() => backendFromEnv({ ROUTECORE_THREADS: raw })).toThrow(`ROUTECORE_THREADS="${raw}" must be an integer from 1 to 1024`);
      expect(caught(() => backendFromEnv({ ROUTECORE_THREADS: raw })).code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    }
  });

  it('resolveBackend: explicit options win over the environment and are validated', () => {
    vi.stubEnv('ROUTECORE_BACKEND', 'cuda');
    vi.stubEnv('ROUTECORE_THREADS', '6');
    expect(resolveBackend()).toEqual({ backend: 'cuda', threads: 6 });
    expect(resolveBackend({ backend: 'cpu' })).toEqual({ backend: 'cpu', threads: 6 });
    expect(resolveBackend({ backend: 'cpu', threads: 0 })).toEqual({ backend: 'cpu', threads: 0 });
    expect(() => resolveBackend({ backend: 'tpu' })).toThrow(/Expected "auto", "cpu" or "cuda" for options\.backend but received string "tpu"/);
    expect(() => resolveBackend({ threads: 2.5 })).toThrow(/options\.threads but received number 2\.5/);
    expect(caught(() => resolveBackend({ threads: 2000 })).code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
  });

  it('a bad ROUTECORE_THREADS makes backendInfo() fail the same way', () => {
    vi.stubEnv('ROUTECORE_THREADS', 'many');
    expect(() => backendInfo()).toThrow(/ROUTECORE_THREADS="many"/);
    expect(caught(() => backendInfo()).code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
  });
});
