#!/usr/bin/env node
// `node scripts/pack-main.mjs DEST`: packs the main package into DEST with the platform packages
// (npm/*/package.json, at the main package's version) as optionalDependencies.
//
// Why not list them in package.json: they are published (or packed) only next to a release, so in
// the repository they would be dependencies the lock file cannot hold, and `npm ci` on a clean
// clone would fail ("Missing: routecore-linux-x64-gnu@ from lock file"). The development checkout
// never uses them (it builds the addon itself); an installed routecore does. So the manifest in
// the tarball gets them, added here for the length of `npm pack` and put back byte for byte after
// (also on failure and on SIGINT/SIGTERM), the way napi-rs's `prepublish` adds them at release.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dest = process.argv[2];
if (!dest) {
  console.error('usage: node scripts/pack-main.mjs DEST_DIR');
  process.exit(2);
}
const manifestPath = join(root, 'package.json');
const original = readFileSync(manifestPath, 'utf8');
const pkg = JSON.parse(original);
if (pkg.optionalDependencies !== undefined) {
  console.error('pack-main: package.json already has optionalDependencies; the platform packages are added only at pack time (see this file)');
  process.exit(1);
}
const platforms = {};
for (const dir of readdirSync(join(root, 'npm')).sort()) {
  const file = join(root, 'npm', dir, 'package.json');
  if (existsSync(file)) platforms[JSON.parse(readFileSync(file, 'utf8')).name] = pkg.version;
}

let restored = false;
const restore = () => {
  if (restored) return;
  restored = true;
  writeFileSync(manifestPath, original);
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    restore();
    process.exit(130);
  });
}
let status;
try {
  writeFileSync(manifestPath, JSON.stringify({ ...pkg, optionalDependencies: platforms }, null, 2) + '\n');
  // dist/ is built by the caller (`npm run build:ts`), so the pack skips `prepare`.
  const res = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', resolve(dest)], { cwd: root, stdio: 'inherit' });
  status = res.status ?? 1;
} finally {
  restore();
}
if (status === 0) console.log(`pack-main: optionalDependencies in the tarball: ${Object.keys(platforms).join(', ')}`);
process.exit(status);
