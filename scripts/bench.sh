#!/usr/bin/env bash
# The main job: install what is missing, build a release tree, run nnbench.
# Arguments go to nnbench (e.g. --benchmark_filter=gemm --benchmark_format=json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
exec build/bench/nnbench "$@"
