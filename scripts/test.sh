#!/usr/bin/env bash
# Build and run every test: installs what is missing, then
#   1. a release build with warnings as errors and all Check suites (CTest)
#   2. the same suites under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. `cmake --install`, and a consumer built through find_package(nn) and pkg-config
#   4. ThreadSanitizer over the threaded suites (scripts/tsan.sh)
#   5. libFuzzer on the model loader, the IDX and CSV readers and the API, 20 s each (scripts/fuzz.sh: long runs)
#   6. an AArch64 cross build whose suites (NEON path) run under qemu-aarch64
# Build trees go to build-*/ in the repository; tests write only there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
step() { printf '\n== %s (at %d s) ==\n' "$*" "$SECONDS"; }

step "dependencies"
bash scripts/deps.sh --test

step "release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNN_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure

step "ASan + UBSan build + tests"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNN_WERROR=ON -DNN_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="-O1 -g $san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
  -DCMAKE_SHARED_LINKER_FLAGS="$san" >/dev/null
cmake --build build-asan -j"$jobs"
CK_TIMEOUT_MULTIPLIER=10 ctest --test-dir build-asan --output-on-failure

step "install + consumers (find_package and pkg-config)"
prefix="$root/build/install-check/prefix"
rm -rf "$root/build/install-check"
cmake --install build --prefix "$prefix" >/dev/null
cmake -S tests/install -B build/install-check/cmake -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/install-check/cmake -j"$jobs" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" build/install-check/cmake/consumer_shared
build/install-check/cmake/consumer_static
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 tests/install/consumer.c -o build/install-check/pc_shared $(pkg-config --cflags --libs nn)
LD_LIBRARY_PATH="$prefix/lib" build/install-check/pc_shared
cc -std=c11 tests/install/consumer.c -o build/install-check/pc_static $(pkg-config --cflags nn) \
  -Wl,-Bstatic $(pkg-config --libs-only-L --libs-only-l nn) -Wl,-Bdynamic $(pkg-config --static --libs nn)
build/install-check/pc_static

step "ThreadSanitizer (clang + LLVM OpenMP + Archer) on the threaded suites"
bash scripts/tsan.sh

step "libFuzzer: model loader, IDX and CSV readers, the API (clang, ASan + UBSan, 20 s each)"
bash scripts/fuzz-build.sh
for target in model idx csv api; do
  rm -rf "build-fuzz/corpus_$target" && cp -r "fuzz/corpus/$target" "build-fuzz/corpus_$target"
  (cd build-fuzz && "./fuzz_$target" -max_total_time=20 -print_final_stats=0 "corpus_$target" 2>&1 | tail -n 1)
done

step "AArch64 cross build + tests under qemu (NEON)"
cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DNN_WERROR=ON \
  -DNN_BUILD_BENCH=OFF -DNN_WITH_HWLOC=OFF >/dev/null
cmake --build build-arm -j"$jobs" 2>&1 | grep -v "statically linked applications" || true
test -x build-arm/tests/test_gemm
OMP_NUM_THREADS=2 ctest --test-dir build-arm --output-on-failure

step "all tests passed"
