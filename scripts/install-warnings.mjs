#!/usr/bin/env node
// `node scripts/install-warnings.mjs CONTEXT NODE_MAJOR STDERR_FILE`: fails (exit 1) when npm's stderr
// from an install holds a warning that is not on the allow-list below, printing each one; prints
// the allowed ones it saw with their reason. Used by scripts/install-check.sh on the repository's
// `npm ci` (CONTEXT `repo`) and on an app's install of the tarballs (CONTEXT `app`).
//
// The rule: a newcomer sees no warning they cannot act on. Each allowed warning says why it is
// there and what to do. EBADENGINE blocks are matched by package name (npm prints one multi-line
// block per package).
import { readFileSync } from 'node:fs';

/** Dev dependencies whose current majors declare Node >= 22 (the repository tests them on 20 in CI). */
const DEV_NODE22 = [
  'ai', 'openai', '@ai-sdk/gateway', '@ai-sdk/openai', '@ai-sdk/openai-compatible', '@ai-sdk/provider', '@ai-sdk/provider-utils',
  'dependency-cruiser', 'commander', 'watskeburt', '@napi-rs/lzma', 'content-type',
];

/** [context, Node majors, package, reason] of each allowed EBADENGINE. */
const ALLOWED_ENGINES = [
  ['repo', [20], DEV_NODE22, 'dev dependencies only (the adapters\' SDKs at their current majors, dependency-cruiser, @napi-rs/cli\'s helpers) declare Node >= 22; the repository\'s tests run them on Node 20 in CI and an app never installs them. Develop on Node 22 or 24 for a silent install (README, "Developing")'],
  ['repo', [20], ['cookie'], 'fastify 5 -> light-my-request 6.8 -> cookie 2, which declares Node >= 22; loaded with fastify but used only by fastify.inject(), which the gateway never calls; the gateway tests pass on Node 20'],
  ['app', [20], ['cookie'], 'fastify 5 -> light-my-request 6.8 -> cookie 2, which declares Node >= 22; loaded with fastify but used only by fastify.inject(), which the gateway never calls; the gateway tests pass on Node 20. Node 20 is past its end of life: Node 22 or 24 install silently'],
];

/** [context, package, reason] of each dependency npm may list as having unapproved install scripts. */
const ALLOWED_SCRIPTS = [
  ['app', 'routecore', 'npm 11 lists every dependency whose install script the app has not approved yet; routecore\'s only checks for the prebuilt binary (or builds from source where none fits). `npm install-scripts approve routecore` records the approval in the app\'s package.json and the line goes away'],
];

const [context, majorText, file] = process.argv.slice(2);
if (!context || !majorText || !file) {
  console.error('usage: node scripts/install-warnings.mjs repo|app NODE_MAJOR STDERR_FILE');
  process.exit(2);
}
const major = Number(majorText);
const lines = readFileSync(file, 'utf8').split('\n');
const unexpected = [];
const allowed = new Map();
for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  if (!/^npm (warn|WARN)\b/.test(line)) continue;
  if (/^npm warn EBADENGINE Unsupported engine \{/.test(line)) {
    const block = [line];
    while (i + 1 < lines.length && /^npm warn EBADENGINE /.test(lines[i + 1])) {
      block.push(lines[++i]);
      if (/^npm warn EBADENGINE \}/.test(lines[i])) break;
    }
    const pkg = /package: '((?:@[^/']+\/)?[^@']+)@[^']*'/.exec(block.join('\n'))?.[1];
    const rule = ALLOWED_ENGINES.find(([ctx, majors, pkgs]) => ctx === context && majors.includes(major) && pkgs.includes(pkg));
    if (rule) {
      const names = allowed.get(rule[3]) ?? [];
      names.push(`EBADENGINE ${pkg}`);
      allowed.set(rule[3], names);
    } else {
      unexpected.push(block.join('\n'));
    }
    continue;
  }
  if (/^npm warn install-scripts\b/.test(line)) {
    const block = [line];
    while (i + 1 < lines.length && /^npm warn install-scripts\b/.test(lines[i + 1])) block.push(lines[++i]);
    const pkgs = block.map((l) => /^npm warn install-scripts {3}((?:@[^/\s]+\/)?[^@\s]+)@/.exec(l)?.[1]).filter(Boolean);
    const rules = pkgs.map((pkg) => ALLOWED_SCRIPTS.find(([ctx, name]) => ctx === context && name === pkg));
    if (pkgs.length > 0 && rules.every(Boolean)) {
      for (const [k, rule] of rules.entries()) allowed.set(rule[2], [...(allowed.get(rule[2]) ?? []), `install-scripts ${pkgs[k]}`]);
    } else {
      unexpected.push(block.join('\n'));
    }
    continue;
  }
  // Anything else (or an EBADENGINE line outside a block, if npm's format changed): not allowed blindly.
  unexpected.push(line);
}
for (const [reason, names] of allowed) console.log(`install-warnings: allowed on Node ${major} (${context}): ${names.join(', ')}: ${reason}`);
if (unexpected.length > 0) {
  console.error(`install-warnings: ${unexpected.length} warning(s) not on the allow-list (${context}, Node ${major}):\n${unexpected.join('\n')}`);
  process.exit(1);
}
console.log(`install-warnings: ${context} install on Node ${major}: no other npm warning`);
