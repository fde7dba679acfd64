#!/usr/bin/env bash
# Long fuzzing runs, outside CI (CI gives each target 20 s in scripts/test.sh).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 600 s; model idx csv api
# Builds the libFuzzer targets (scripts/fuzz-build.sh) into build-fuzz/, runs
# each target on its corpus in fuzz/corpus/<target>/ (new inputs that add
# coverage are kept there, then the corpus is minimized with -merge=1), and
# prints one line per target: runs, executions per second, corpus size, and
# whether it found anything (crash-*/leak-*/timeout-* files are left in
# build-fuzz/ for reproduction: ./build-fuzz/fuzz_<target> FILE).
# FUZZ_JOBS=N runs N targets at a time (default 1; the machine has 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model idx csv api)
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$seconds'" >&2; exit 2;; esac
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no target '$t' (fuzz/fuzz_$t.c)" >&2; exit 2; }
done
bash scripts/fuzz-build.sh >/dev/null

run_one() {
  local t=$1 log="build-fuzz/fuzz_$t.log" work="build-fuzz/work_$t"
  mkdir -p "fuzz/corpus/$t" "$work"
  rm -f "$work"/*
  # the new inputs go to $work, then only those that add coverage join the corpus
  (cd build-fuzz && "./fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
     "work_$t" "../fuzz/corpus/$t" >"fuzz_$t.log" 2>&1) || true
  (cd build-fuzz && "./fuzz_$t" -merge=1 "../fuzz/corpus/$t" "work_$t" >/dev/null 2>&1) || true
  local runs rate found
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  found=$(ls build-fuzz 2>/dev/null | grep -E "^(crash|leak|timeout|oom)-" | tr '\n' ' ' || true)
  printf '%-6s %4d s  %12s runs  %8s exec/s  corpus %4d files  %s\n' "$t" "$seconds" "$runs" "$rate" \
    "$(ls "fuzz/corpus/$t" | wc -l)" "${found:-no crash, leak or timeout}"
}

jobs_max=${FUZZ_JOBS:-1}
for t in "${targets[@]}"; do
  run_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
done
wait
