#!/usr/bin/env bash
# Checks the C++/CUDA sources against .clang-format (run by .ci/run). `--fix` rewrites them instead.
# The generated Unicode tables (*.inc) are left as their generators write them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' '*.cu')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/routecore-format.$$; then
  head -40 /tmp/routecore-format.$$ >&2
  rm -f /tmp/routecore-format.$$
  echo "check-native-format: the files above differ from .clang-format; run: bash scripts/check-native-format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/routecore-format.$$
echo "check-native-format: ${#files[@]} files match .clang-format"
