#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_<target>.c) with clang-14, ASan and
# UBSan into build-fuzz/: the one recipe for scripts/test.sh (CI, 20 s a
# target) and scripts/fuzz.sh (long runs). CMAKE_BUILD_TYPE=Debug, so the -O1
# asked for is what the compiler gets (Release appended -O3, and clang took
# minutes per AVX-512 file under this instrumentation).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 0 ] || { echo "fuzz-build.sh: takes no arguments, got '$1' (usage: bash scripts/fuzz-build.sh)" >&2; exit 2; }
command -v clang-14 >/dev/null || { echo "fuzz-build.sh: clang-14 is missing: bash scripts/deps.sh --test" >&2; exit 1; }
fsan="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug -DNN_BUILD_FUZZ=ON -DNN_BUILD_TESTS=OFF \
  -DNN_BUILD_BENCH=OFF -DNN_BUILD_EXAMPLES=OFF -DNN_WITH_OPENMP=OFF -DNN_WERROR=ON \
  -DCMAKE_C_FLAGS="$fsan" >/dev/null
cmake --build build-fuzz -j"$(nproc)"
