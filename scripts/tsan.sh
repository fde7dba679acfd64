#!/usr/bin/env bash
# ThreadSanitizer over the threaded suites: clang + LLVM's OpenMP runtime +
# Archer (OMP_TOOL_LIBRARIES), which reports OpenMP's own synchronization to
# TSan, so libgomp's uninstrumented barriers do not show up as false races.
# Run by scripts/test.sh; alone: bash scripts/tsan.sh (after scripts/deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
archer=/usr/lib/llvm-14/lib/libarcher.so
tsan="-fsanitize=thread -g -O1"
cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug -DNN_WERROR=ON \
  -DNN_BUILD_BENCH=OFF -DNN_BUILD_EXAMPLES=OFF -DCMAKE_C_FLAGS="$tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build-tsan -j"$(nproc)" --target test_gemm test_network test_predict
OMP_TOOL_LIBRARIES=$archer TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1" \
  CK_TIMEOUT_MULTIPLIER=20 ctest --test-dir build-tsan -R '^(test_gemm|test_network|test_predict)$' --output-on-failure
