#!/usr/bin/env bash
# The commands as a user meets them (CTest runs this with the build tree's
# binaries): strict flags (exit 2, one line naming the flag), outputs checked
# before the data is read, I/O errors naming the path and the OS reason, no
# file name ever passing through a shell, a diverged run saving nothing and
# failing, progress and epoch lines within an 80-column terminal, sine's
# options, the README's quickstart program identical to examples/ and
# running. Usage: cli.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect RC PATTERN CMD...: exit status RC and stderr+stdout matching PATTERN
expect() {
  local rc=$1 pattern=$2; shift 2
  local out; out=$("$@" 2>&1); local got=$?
  if [ "$got" -ne "$rc" ]; then bad "$* -> exit $got, wanted $rc: $out"; return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then bad "$* -> output lacks /$pattern/: $out"; return; fi
  ok
}

nt=$build/nntrain
fm=/usr/share/datasets/fashion-mnist
expect 2 "^nntrain: --epochs: '-1' is not a whole number" "$nt" --epochs -1
expect 2 "^nntrain: --epochs: '99999999999999999999999'" "$nt" --epochs 99999999999999999999999
expect 2 "^nntrain: --batch: '-5'" "$nt" --batch -5
expect 2 "^nntrain: --threads: 'abc'" "$nt" --threads abc
expect 2 "^nntrain: --threads: '-3'" "$nt" --threads -3
expect 2 "^nntrain: --lr: '-1'" "$nt" --lr -1
expect 2 "^nntrain: --lr: '1e10'" "$nt" --lr 1e10
expect 2 "^nntrain: --lr: '0.1x'" "$nt" --lr 0.1x
expect 2 "^nntrain: --epochs needs a value" "$nt" --epochs
expect 2 "^nntrain: unknown option '--bogus'" "$nt" --bogus
expect 2 "^nntrain: --csv /nonexistent/c.csv: cannot write in /nonexistent: No such file" "$nt" --csv /nonexistent/c.csv
expect 2 "^nntrain: --svg /nonexistent/x.svg: cannot write in /nonexistent" "$nt" --svg /nonexistent/x.svg
expect 2 "^nntrain: --save /nonexistent/m.nnm: cannot write in /nonexistent" "$nt" --save /nonexistent/m.nnm
expect 1 "/nonexistent/train-images-idx3-ubyte.gz: No such file or directory" "$nt" --data /nonexistent
expect 1 "dataset-fashion-mnist" "$nt" --data /nonexistent
expect 0 "^usage: nntrain" "$nt" --help
# every command's --help fits an 80-column terminal
for cmd in nntrain nnpredict sine bench/nnbench nntrain-mpi; do
  [ -x "$build/$cmd" ] || continue
  # stdout only: under the sanitizers Open MPI's exit leaves LeakSanitizer reports on stderr
  wide=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$build/$cmd" --help 2>/dev/null | sed -n '/^benchmark \[/q;p' \
         | awk 'length > 80')
  [ -z "$wide" ] && ok || bad "$cmd --help has lines over 80 columns: $wide"
done

if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
  # a file name that a shell would run: it must stay a name
  evil='cur"ve $(touch pwned) `touch pwned2`.svg'
  expect 0 "wrote .*\\\$\\(touch pwned\\)" "$nt" --limit 600 --epochs 2 --save m.nnm --csv c.csv --svg "$evil"
  if [ -e pwned ] || [ -e pwned2 ]; then bad "a file name reached a shell"; else ok; fi
  if [ -s "$evil" ] && grep -q "<svg" "$evil" && grep -q "best epoch" "$evil"; then ok; else bad "no SVG at '$evil'"; fi
  if [ -s m.nnm ] && [ "$(head -1 c.csv)" = "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,test_accuracy,seconds" ]; then ok; else bad "model or CSV missing"; fi
  # interrupted (--stop-after) and resumed from the checkpoint: the bits of the whole run
  whole=$("$nt" --limit 1500 --epochs 4 --save '' --csv '' --svg '' | grep "weights digest")
  expect 0 "stopped after epoch 2" "$nt" --limit 1500 --epochs 4 --save '' --csv '' --svg '' --checkpoint ck.nnc --stop-after 2
  resumed=$("$nt" --limit 1500 --epochs 4 --save '' --csv '' --svg '' --resume ck.nnc | grep "weights digest")
  [ -n "$whole" ] && [ "$whole" = "$resumed" ] && ok || bad "resumed run '$resumed' vs whole '$whole'"
  expect 2 "^nntrain: --resume takes the network" "$nt" --resume ck.nnc --layers 784-10
  expect 1 "^nntrain: --resume m.nnm: bad file format" "$nt" --resume m.nnm --epochs 4
  # uncompressed IDX works too
  gzip -dc "$fm/t10k-images-idx3-ubyte.gz" > t10k-images; gzip -dc "$fm/t10k-labels-idx1-ubyte.gz" > t10k-labels
  expect 0 "test [0-9.]+ 0\\.[0-9]+" "$nt" --train-images t10k-images --train-labels t10k-labels --test-images t10k-images --test-labels t10k-labels --limit 500 --epochs 1 --save '' --csv '' --svg ''
  # a diverging run: says so, exits 1, leaves the saved model alone
  before=$(sha256sum m.nnm)
  expect 1 "(diverged|NaN)" "$nt" --limit 600 --epochs 3 --optimizer sgd --lr 500 --save m.nnm --csv '' --svg ''
  if [ "$(sha256sum m.nnm)" = "$before" ]; then ok; else bad "a diverged run replaced m.nnm"; fi
  # at 80 columns on a terminal: no line (or \r-separated redraw) wider than 80
  if command -v script >/dev/null; then
    COLUMNS=80 script -qec "stty cols 80 2>/dev/null; $nt --limit 3000 --epochs 2 --save '' --csv '' --svg ''" tty.log >/dev/null 2>&1
    widest=$(tr '\r' '\n' < tty.log | sed 's/\x1b\[K//g' | grep -v '^Script \(started\|done\)' \
             | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }')
    if [ "$widest" -le 80 ] && grep -q "epoch 2/2" tty.log; then ok; else bad "terminal output $widest columns wide"; fi
  fi
else
  echo "fashion-mnist not installed: the training checks are skipped"
fi

# CSV data: a regressor and a classifier trained from the command line, then
# scored by nnpredict; bad CSV pointed at by line and field
np=$build/nnpredict
awk 'BEGIN { srand(1); print "x1,x2,y"; for (i = 0; i < 1500; i++) { a = 4 * rand() - 2; b = 2 * rand() - 1;
             printf "%.5f,%.5f,%.5f\n", a, b, sin(a) + b * b } }' > reg.csv
awk 'BEGIN { srand(2); for (i = 0; i < 1500; i++) { a = 2 * rand() - 1; b = 2 * rand() - 1;
             printf "%.4f,%.4f,%d\n", a, b, (a * a + b * b < 0.5) } }' > cls.csv
expect 0 "test 0\.00" "$nt" --train-csv reg.csv --test-csv reg.csv --target-fields 3 --epochs 40 --batch 32 --lr 0.01 \
  --save reg.nnm --csv '' --svg reg.svg
if grep -q "<svg" reg.svg && ! grep -q accuracy reg.svg; then ok; else bad "regression SVG"; fi
expect 0 "test 0\.[0-9]+ 0\.9" "$nt" --train-csv cls.csv --test-csv cls.csv --epochs 30 --batch 32 --lr 0.01 \
  --save cls.nnm --csv '' --svg ''
expect 0 "test 0\.[0-9]+ 0\.9" "$nt" --init cls.nnm --train-csv cls.csv --test-csv cls.csv --epochs 1 --lr 0.001 \
  --save '' --csv '' --svg ''
expect 1 "is a regressor \(MSE\); the data given is for a classifier" "$nt" --init reg.nnm --train-csv cls.csv --test-csv cls.csv
printf '1,2,3\n4,five,6\n' > bad.csv
expect 1 "bad.csv:2: field 2: not a number" "$nt" --train-csv bad.csv --test-csv bad.csv
expect 2 "^nntrain: --train-csv and --test-csv go together" "$nt" --train-csv reg.csv
expect 0 "mean squared error 0\.00" "$np" reg.nnm --csv reg.csv --target-fields 3 --out rpred.csv
if [ "$(head -1 rpred.csv)" = "y0,target0" ] && [ "$(wc -l < rpred.csv)" -eq 1501 ]; then ok; else bad "rpred.csv"; fi
expect 0 "accuracy 0\.9" "$np" cls.nnm --csv cls.csv --out pred.csv
expect 0 "confusion matrix" "$np" cls.nnm --csv cls.csv
if [ "$(head -1 pred.csv)" = "predicted,p0,p1,true" ]; then ok; else bad "pred.csv header: $(head -1 pred.csv)"; fi
expect 2 "^nnpredict: give a MODEL" "$np" cls.nnm
expect 2 "^nnpredict: unknown option '--bogus'" "$np" cls.nnm --csv cls.csv --bogus
expect 1 "^nnpredict: nothing.nnm: I/O error: No such file" "$np" nothing.nnm --csv cls.csv
expect 1 "^nnpredict: --out /nonexistent/p.csv: No such file" "$np" cls.nnm --csv cls.csv --out /nonexistent/p.csv
expect 1 "the data has 3 features per sample, cls.nnm takes 2 inputs" "$np" cls.nnm --csv reg.csv --no-targets
expect 0 "^usage: nnpredict" "$np" --help

sine=$build/sine
if [ -x "$sine" ]; then
  expect 0 "^usage: sine" "$sine" --help
  expect 2 "^sine: --epochs: '0'" "$sine" --epochs 0
  expect 2 "^sine: --lr needs a value" "$sine" --lr
  expect 2 "^sine: unknown argument '--bogus'" "$sine" --bogus
  expect 1 "^sine: --out /nonexistent: cannot write /nonexistent/sine.csv: No such file" "$sine" --out /nonexistent
  expect 0 "epoch   2000  cost 0.0130985.  seed \\(float64\\) 0.01309855" "$sine" --seed-weights --epochs 2001 --out .
  if grep -q "<svg" sine.svg && [ "$(wc -l < sine.csv)" -eq 101 ]; then ok; else bad "sine.svg / sine.csv"; fi
fi

# nnbench: JSON on stdout is JSON alone, with the commit; a filter that
# matches nothing fails; repetitions reach nncompare's significance test
nb=$build/bench/nnbench
if [ -x "$nb" ]; then
  expect 2 "no benchmark matches the filter" "$nb" --benchmark_filter=no_such_row
  expect 2 "unrecognized command-line flag: --bogus" "$nb" --bogus
  if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    # the process's affinity mask is the machine nn sees (hwloc alone
    # ignored it), and a row whose thread shared its CPU is flagged
    cpu=$(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')
    one=(taskset -c "$cpu" "$nb" --benchmark_filter='^peak/scalar/t1/' --benchmark_min_time=0.2)
    expect 0 "topology +1 core, 1 PU \\((hwloc|fallback)\\), default threads 1" "${one[@]}"
    # (a spinning shell on the same CPU; bounded, should this script be killed)
    taskset -c "$cpu" timeout 30 sh -c 'while :; do :; done' & hog=$!
    expect 0 "^  peak/scalar/t1 +[0-9]+ % on CPU" "${one[@]}"
    kill "$hog"; wait "$hog" 2>/dev/null
    # where OpenMP binds threads, its places are the machine, not the one
    # CPU it has bound the first thread to (nor, re-run, nnbench's), and
    # the threads stay where it puts them
    all=$("${one[@]:3}" 2>&1 | grep '^  topology')
    bound=$(OMP_PROC_BIND=true "${one[@]:3}" 2>&1 | grep '^  topology')
    if [ -n "$all" ] && [ "${all%, pinning *}, pinning by OpenMP" = "$bound" ]; then ok
    else bad "OMP_PROC_BIND=true: '$bound', not '${all%, pinning *}, pinning by OpenMP'"; fi
  fi
  # a CPU quota (docker --cpus, Kubernetes limits) caps the default
  # thread count: tried where this user may make a cgroup v1 cpu group
  v1=/sys/fs/cgroup/cpu
  if [ -w "$v1" ] && [ -f "$v1/cpu.cfs_quota_us" ] && mkdir "$v1/nn_cli_$$" 2>/dev/null; then
    cg=$v1/nn_cli_$$
    # (and where a process may be moved into it: not so in every container)
    if echo 100000 > "$cg/cpu.cfs_period_us" && echo 100000 > "$cg/cpu.cfs_quota_us" &&
       sh -c 'echo $$ > "$1/cgroup.procs"' sh "$cg" 2>/dev/null; then
      quota=(sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" "$3" "$4"' sh "$cg" "$nb"
             --benchmark_filter='^peak/scalar/t1/' --benchmark_min_time=0.01)
      expect 0 "cpu quota  1 CPU's time" "${quota[@]}"
      expect 0 "default threads 1," "${quota[@]}"
    fi
    rmdir "$cg" 2>/dev/null
  fi
  expect 2 "benchmark_repetitions.*abc" "$nb" --benchmark_repetitions=abc
  "$nb" --benchmark_filter='^act/scalar/relu' --benchmark_min_time=0.01 --benchmark_repetitions=3 \
        --benchmark_format=json > rep.json 2> rep.err
  if python3 -c 'import json,sys; d=json.load(open("rep.json")); sys.exit(0 if d["context"]["nn_commit"] and d["benchmarks"] else 1)' 2>/dev/null; then ok
  else bad "nnbench --benchmark_format=json: stdout not pure JSON with nn_commit"; fi
  if grep -q "Summary" rep.err; then ok; else bad "nnbench summary not on stderr"; fi
  line=$("$nb" --benchmark_filter='^peak/scalar/t1' --benchmark_min_time=0.01 2>&1 | grep '^peak/')
  if grep -qE "GFLOP/s=[0-9.]+( off_cpu=[0-9.]+)?$" <<<"$line"; then ok; else bad "nnbench counter label: $line"; fi
  # an nn row times the peers' calls itself, interleaved with its own: its
  # ratios need no peer row run before it (here filtered out)
  row=("$nb" --benchmark_filter='^gemm/scalar/t1/NN/64x64x64' --benchmark_min_time=0.05)
  head=$("${row[@]}" 2>&1)
  if ! grep -q "^  openblas   not found" <<<"$head"; then
    if grep -qE "^gemm/scalar/t1/NN/64x64x64.* x_openblas=[0-9.]+" <<<"$head"; then ok
    else bad "nnbench: an nn row alone has no x_openblas: $(grep '^gemm' <<<"$head")"; fi
  fi
  # x_best_peer is the smaller of the two ratios; OpenBLAS on 2+ threads
  # is compared by its own row (its thread pool is not interleaved)
  if ! grep -qE "^  (openblas|onednn) +not found" <<<"$head"; then
    "$nb" --benchmark_filter='^gemm/(openblas|scalar)/t[12]/NN/64x64x64' --benchmark_min_time=0.05 \
          --benchmark_format=json > pair.json 2>/dev/null
    if python3 - pair.json <<'PY'; then ok; else bad "nnbench: x_best_peer or OpenBLAS's t2 ratio wrong"; fi
import json, sys
rows = {b["name"].replace("/real_time", ""): b for b in json.load(open(sys.argv[1]))["benchmarks"]}
one = rows["gemm/scalar/t1/NN/64x64x64"]
ok = one["x_best_peer"] == min(one["x_openblas"], one["x_onednn"])
two, blas = rows.get("gemm/scalar/t2/NN/64x64x64"), rows.get("gemm/openblas/t2/NN/64x64x64")
if two and blas:
    ok = ok and abs(two["x_openblas"] * blas["GFLOP/s"] / two["GFLOP/s"] - 1) < 1e-6
sys.exit(0 if ok else 1)
PY
  fi
  nc=$src/bench/nncompare.py
  expect 0 "1\.000 +1\.000 +3/3" python3 "$nc" rep.json rep.json
  expect 0 "^usage: nncompare" python3 "$nc" --help
  expect 1 "not JSON" python3 "$nc" rep.err rep.json
  expect 1 "No such file" python3 "$nc" missing.json rep.json
  expect 2 "the following arguments are required" python3 "$nc" rep.json
fi

# the README's program is examples/quickstart.c, and it runs
if sed -n '/<!-- quickstart begin -->/,/<!-- quickstart end -->/p' "$src/README.md" | sed '1,2d;$d' | sed '$d' \
   | cmp -s - "$src/examples/quickstart.c"; then ok; else bad "README's quickstart differs from examples/quickstart.c"; fi
if [ -x "$build/quickstart" ]; then
  expect 0 "saved and loaded: identical" "$build/quickstart"
fi

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
