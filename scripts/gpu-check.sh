#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in two steps (../shared/gpu/README.md: the GPU machine
# has the driver, CMake and nvcc but no Node, so the check is native executables built here):
#
#   scripts/gpu-check.sh build     # here, no GPU needed: configures and builds build-gpu/
#   scripts/gpu-check.sh run       # there, from the repository root, build-gpu/ carried along
#
# `run` is ONE short command (a few minutes at most; see docs/PERFORMANCE.md, "CUDA"):
#   1. ctest over every native suite with ROUTECORE_BACKEND=cuda; the CUDA suites
#      (test_cuda_equivalence: cuda vs cpu for every predictor, F32/F16, sparse/dense, batches 1, 7,
#      1024, NaN; test_cuda_fault: a real device fault and the fallback to cpu) must PASS: a skip
#      there means no usable device and fails the check;
#   2. bench_cuda: P6 (knn over 100k references, batch 1,024, CUDA vs CPU) and whole-batch forward
#      latencies of every predictor.
# Everything is also written to $OUT/gpu-check.log when $OUT is set (the device machine's output
# folder), with nvidia-smi's view of the device.
#
# Environment: ROUTECORE_GPU_ARCH (build only) = CMAKE_CUDA_ARCHITECTURES for build-gpu, default
# "90-real" (the H200 the project is lent; one architecture keeps the carried folder small).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
WORK="$ROOT/build-gpu-work"  # the CMake build (object files stay here)
BUILD="$ROOT/build-gpu"      # what travels: the executables and ctest's file, a few MB

case "${1:-}" in
  build)
    arch="${ROUTECORE_GPU_ARCH:-90-real}"
    nice -n 10 cmake -S "$ROOT" -B "$WORK" -DCMAKE_BUILD_TYPE=Release -DROUTECORE_CUDA=ON \
      -DROUTECORE_TESTS=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch"
    nice -n 10 cmake --build "$WORK" -j "$(nproc)"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    cp "$WORK"/test_* "$WORK/bench_cuda" "$BUILD/"
    sed "s#$WORK#$BUILD#g" "$WORK/CTestTestfile.cmake" > "$BUILD/CTestTestfile.cmake"
    du -sh "$BUILD"
    echo "built $BUILD for CUDA architectures $arch; on the GPU machine run: scripts/gpu-check.sh run"
    ;;
  run)
    [ -f "$BUILD/CTestTestfile.cmake" ] || { echo "gpu-check: $BUILD is missing; run 'scripts/gpu-check.sh build' first and carry build-gpu" >&2; exit 2; }
    log="${OUT:+$OUT/gpu-check.log}"
    log="${log:-/dev/null}"
    exec > >(tee -a "$log") 2>&1
    echo "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || echo "(nvidia-smi failed)"
    # ctest's files name the folder they were generated in; the carried copy lives elsewhere.
    built_in="$(sed -n 's/^# Build directory: //p' "$BUILD/CTestTestfile.cmake" | head -1)"
    source_in="$(sed -n 's/^# Source directory: //p' "$BUILD/CTestTestfile.cmake" | head -1)"
    if [ -n "$built_in" ] && [ "$built_in" != "$BUILD" ]; then
      find "$BUILD" -name CTestTestfile.cmake -exec sed -i "s#$built_in#$BUILD#g; s#$source_in#$ROOT#g" {} +
    fi
    export ROUTECORE_BACKEND=cuda
    status=0
    # The CPU suites, then the CUDA ones verbosely (their output names the device and any mismatch).
    ctest --test-dir "$BUILD" --output-on-failure --timeout 600 -E '^test_cuda_' || status=1
    ctest --test-dir "$BUILD" -V --timeout 600 -R '^test_cuda_' | tee /tmp/gpu-check-ctest.txt || status=1
    if grep -E "test_cuda_[a-z_]+ .*(Skipped|Not Run)" /tmp/gpu-check-ctest.txt; then
      echo "gpu-check: a CUDA suite skipped itself: no usable device here" >&2
      status=1
    fi
    "$BUILD/bench_cuda" || status=1
    echo "== gpu-check finished with status $status"
    exit "$status"
    ;;
  *)
    echo "usage: scripts/gpu-check.sh build|run" >&2
    exit 2
    ;;
esac
