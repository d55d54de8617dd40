/**
 * The addon loader (src/addon/native.ts) and the install script (scripts/install.mjs): which
 * candidates are tried in which order, the error that lists them, the CUDA package's test load
 * in a child process and the fall-back to the CPU package, and what the install script does in
 * an installed copy with and without a prebuilt binary.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';

import {
  addonCandidates,
  loadAddon,
  platformTriple,
  probeCudaBinary,
  type LoaderEnvironment,
  type NativeBinding,
} from '../src/addon/native.js';
import { backendInfo } from '../src/addon/backend.js';
import { RoutecoreError } from '../src/errors.js';

const ROOT = resolve(__dirname, '..');
const BUILT = join(ROOT, 'build', 'Release', 'routecore.node');
const HAS_BUILD = existsSync(BUILT);
if (!HAS_BUILD) console.warn(`loader tests that load a real addon skip: ${BUILT} is missing (run \`npm run build:native\`)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-loader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const requireNode = createRequire(import.meta.url);

/** A loader environment over an empty package root: nothing built, no package installed. */
function env(overrides: Partial<LoaderEnvironment> = {}): LoaderEnvironment {
  return {
    root: join(tmp, 'empty-root'),
    triple: 'linux-x64-gnu',
    resolvePackage: () => undefined,
    probe: () => {
      throw new Error('probe must not run');
    },
    backendRequest: undefined,
    load: (path) => requireNode(path) as NativeBinding,
    ...overrides,
  };
}

describe('platformTriple', () => {
  it('names platforms as napi-rs does', () => {
    expect(platformTriple('linux', 'x64', true)).toBe('linux-x64-gnu');
    expect(platformTriple('linux', 'arm64', true)).toBe('linux-arm64-gnu');
    expect(platformTriple('linux', 'x64', false)).toBe('linux-x64-musl');
    expect(platformTriple('darwin', 'arm64', false)).toBe('darwin-arm64');
    expect(platformTriple('win32', 'x64', false)).toBe('win32-x64-msvc');
  });
});

describe('addonCandidates', () => {
  it('tries the local build, then the CUDA package (linux-x64-gnu only), then the CPU package', () => {
    const list = addonCandidates({ root: '/pkg', triple: 'linux-x64-gnu', resolvePackage: (n) => `/nm/${n}/x.node` });
    expect(list.map((c) => c.label)).toEqual([
      `local build ${join('/pkg', 'build', 'Release', 'routecore.node')}`,
      'platform package routecore-linux-x64-gnu-cuda',
      'platform package routecore-linux-x64-gnu',
    ]);
    expect(list[0]!.path).toBeUndefined(); // /pkg/build does not exist
    expect(list[2]!.path).toBe('/nm/routecore-linux-x64-gnu/x.node');
    const mac = addonCandidates({ root: '/pkg', triple: 'darwin-arm64', resolvePackage: () => undefined });
    expect(mac.map((c) => c.source)).toEqual(['local-build', 'platform-package']);
  });
});

describe('loadAddon', () => {
  it('throws ERR_ROUTECORE_ADDON_UNAVAILABLE listing every path it tried and how to fix it', () => {
    let err: unknown;
    try {
      loadAddon(env());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RoutecoreError);
    expect((err as RoutecoreError).code).toBe('ERR_ROUTECORE_ADDON_UNAVAILABLE');
    const local = join(tmp, 'empty-root', 'build', 'Release', 'routecore.node');
    expect((err as Error).message).toBe(
      [
        `the routecore native addon could not be loaded on linux-x64-gnu (Node ${process.version}). Tried, in order:`,
        `  1. local build ${local}: not built`,
        '  2. platform package routecore-linux-x64-gnu-cuda: not installed',
        '  3. platform package routecore-linux-x64-gnu: not installed',
        'How to fix it:',
        '  - install the prebuilt binary: reinstall routecore without --omit=optional / --no-optional (it pulls routecore-linux-x64-gnu as an optional dependency), or `npm install routecore-linux-x64-gnu`',
        '  - or build from source: install CMake >= 3.18 and a C++17 compiler, then `npm rebuild routecore` (ROUTECORE_CUDA=ON to include the CUDA backend; see the README, "Installing")',
      ].join('\n'),
    );
  });

  it('says when no prebuilt package exists for the platform, and why a present file failed to load', () => {
    const notAnAddon = join(tmp, 'not-an-addon.node');
    writeFileSync(notAnAddon, 'this is not a shared library');
    let message = '';
    try {
      loadAddon(env({ triple: 'linux-x64-musl', resolvePackage: (n) => (n === 'routecore-linux-x64-musl' ? notAnAddon : undefined) }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('could not be loaded on linux-x64-musl');
    expect(message).toMatch(new RegExp(`2\\. platform package routecore-linux-x64-musl \\(${notAnAddon.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\): failed to load: .+`));
    expect(message).toContain('there is no prebuilt package for linux-x64-musl (prebuilt: linux-x64-gnu, linux-arm64-gnu, darwin-arm64, darwin-x64, win32-x64-msvc); build from source instead');
  });

  it('skips the CUDA package without a test load when ROUTECORE_BACKEND=cpu', () => {
    let message = '';
    try {
      loadAddon(env({ backendRequest: ' CPU ', resolvePackage: (n) => (n.endsWith('-cuda') ? '/nm/cuda.node' : undefined) }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('2. platform package routecore-linux-x64-gnu-cuda: skipped (ROUTECORE_BACKEND=cpu)');
  });

  it.skipIf(!HAS_BUILD)('falls back to the CPU package when the CUDA package fails its test load in a child process, and keeps the reason', () => {
    const broken = join(tmp, 'broken-cuda.node');
    writeFileSync(broken, 'not a shared library either');
    const { binding, load } = loadAddon(
      env({
        probe: probeCudaBinary,
        resolvePackage: (n) => (n === 'routecore-linux-x64-gnu-cuda' ? broken : n === 'routecore-linux-x64-gnu' ? BUILT : undefined),
      }),
    );
    expect(load.source).toBe('platform-package');
    expect(load.path).toBe(BUILT);
    expect(load.notes).toHaveLength(1);
    expect(load.notes[0]).toMatch(/^the CUDA package was not used: test load exited with code 1: .+/);
    expect(binding.backendInfo('cpu', 1).chosen).toBe('cpu');
  });

  it.skipIf(!HAS_BUILD)('the test load reports a binary that loads but sees no usable device (this machine has no GPU)', (ctx) => {
    const info = backendInfo({ backend: 'auto', threads: 1 });
    if (info.cuda.usable) ctx.skip('a CUDA device is usable here; this case needs a machine without one');
    const verdict = probeCudaBinary(BUILT);
    expect(verdict).toEqual({ ok: false, reason: `the test load saw no usable device (${info.cuda.detail})` });
  });

  it.skipIf(!HAS_BUILD)('backendInfo() says which addon file is in use', () => {
    const info = backendInfo({ backend: 'cpu', threads: 1 });
    expect(info.addon).toEqual({ source: 'local-build', path: BUILT, notes: [] });
  });
});

/** Copies scripts/install.mjs into a fake installed package (no .git, no test/) and runs it. */
function runInstallScript(name: string, options: { withPackage?: boolean; env?: Record<string, string> } = {}) {
  const pkg = join(tmp, name, 'node_modules', 'routecore');
  mkdirSync(join(pkg, 'scripts'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts', 'install.mjs'), join(pkg, 'scripts', 'install.mjs'));
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'routecore', version: '0.0.0', type: 'module' }));
  if (options.withPackage) {
    const dir = join(tmp, name, 'node_modules', `routecore-${platformTriple()}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `routecore-${platformTriple()}`, version: '0.0.0', main: 'routecore.node' }));
    copyFileSync(BUILT, join(dir, 'routecore.node'));
  }
  // A PATH holding only node: no cmake, no compiler.
  const bin = join(tmp, name, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  const r = spawnSync(process.execPath, [join(pkg, 'scripts', 'install.mjs')], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: bin, HOME: tmp, ...options.env },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, pkg };
}

describe('scripts/install.mjs in an installed copy', () => {
  it.skipIf(!HAS_BUILD)('does nothing when the platform package holds a usable binary', () => {
    const r = runInstallScript('with-prebuilt', { withPackage: true });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^routecore: using the prebuilt binary .*routecore-linux-x64-gnu\/routecore\.node; nothing to build$/m);
    expect(existsSync(join(r.pkg, 'build'))).toBe(false);
  });

  it('without a prebuilt binary, tries a source build and names each missing tool', () => {
    const r = runInstallScript('without-prebuilt');
    expect(r.code).toBe(1);
    expect(r.out).toContain('routecore: no usable prebuilt binary (local build: not present; routecore-linux-x64-gnu: not present)');
    expect(r.out).toContain('routecore: building the native addon from source (no prebuilt binary fits this machine): tests OFF, CUDA OFF');
    expect(r.out).toContain('cannot build the native addon from source on linux-x64-gnu: missing CMake >= 3.18 (`cmake` on the PATH); a C++17 compiler (g++ or clang++); a build tool (make or ninja)');
  });

  it('refuses a ROUTECORE_CUDA value it does not know, naming the variable', () => {
    const r = runInstallScript('bad-cuda', { env: { ROUTECORE_CUDA: 'maybe' } });
    expect(r.code).toBe(1);
    expect(r.out).toContain('routecore: ROUTECORE_CUDA="maybe" must be ON, OFF or AUTO');
  });
});
