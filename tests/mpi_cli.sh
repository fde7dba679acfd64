#!/usr/bin/env bash
# nntrain-mpi under mpiexec (CTest, when MPI was found): rank 0 alone
# prints and saves; the same weights for 1 and 2 threads per rank; the
# saved model scores with nnpredict; a rank killed mid-run fails the job
# at once, and --resume from its last checkpoint reaches the uninterrupted
# run's weights; a rank stopped mid-run ends the job after --timeout. Usage: mpi_cli.sh BUILD_DIR MPIEXEC
set -u
build=$1 mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fm=/usr/share/datasets/fashion-mnist
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
if [ ! -f "$fm/train-images-idx3-ubyte.gz" ]; then
  echo "fashion-mnist not installed: skipped"
  echo "mpi_cli: 0 passed, 0 failed"
  exit 0
fi
run() { "$mpiexec" -n 2 --oversubscribe --bind-to none "$build/nntrain-mpi" "$@" 2>&1; }
out1=$(run --limit 600 --epochs 2 --threads 1 --save m1.nnm --csv c.csv --svg c.svg); rc1=$?
out2=$(run --limit 600 --epochs 2 --threads 2 --save m2.nnm --csv '' --svg ''); rc2=$? # 4 threads on 2 cores: slow
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && ok || bad "exit $rc1 / $rc2: $out1"
[ "$(grep -c '^epoch 2/2' <<<"$out1")" -eq 1 ] && ok || bad "epoch lines printed by more than rank 0: $out1"
grep -q "^2 ranks: [0-9]* samples/s" <<<"$out1" && ok || bad "no samples/s line: $out1"
d1=$(grep "weights digest" <<<"$out1") d2=$(grep "weights digest" <<<"$out2")
[ -n "$d1" ] && [ "$d1" = "$d2" ] && ok || bad "1 and 2 threads per rank differ: '$d1' vs '$d2'"
[ -s m1.nnm ] && [ -s c.csv ] && grep -q "<svg" c.svg && ok || bad "rank 0's files missing"
"$build/nnpredict" m1.nnm --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" \
  | grep -q "accuracy 0\.[5-9]" && ok || bad "the saved model does not score"
# one rank: nntrain's own weights
single=$("$build/nntrain" --limit 600 --epochs 2 --threads 2 --save '' --csv '' --svg '' | grep "weights digest")
one=$("$mpiexec" -n 1 --bind-to none "$build/nntrain-mpi" --limit 600 --epochs 2 --threads 2 --save '' --csv '' --svg '' \
      2>&1 | grep "weights digest")
[ -n "$single" ] && [ "$single" = "$one" ] && ok || bad "nntrain-mpi -n 1 '$one' vs nntrain '$single'"
# a rank killed mid-run: the job fails at once; resuming from the last
# checkpoint ends with the uninterrupted run's weights
long=(--limit 1000 --epochs 80 --threads 1 --save '' --csv '' --svg '')
want=$(run "${long[@]}" | grep "weights digest")
"$mpiexec" -n 2 --oversubscribe --bind-to none "$build/nntrain-mpi" "${long[@]}" --checkpoint ck.nnc >job.log 2>&1 &
job=$!
for _ in $(seq 200); do [ -s ck.nnc ] && break; sleep 0.05; done
victim=$(pgrep -f "nntrain-mpi --limit 1000" | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
start=$(date +%s)
wait "$job"; jrc=$?
[ $jrc -ne 0 ] && [ $(( $(date +%s) - start )) -le 30 ] && ok || bad "killed job: exit $jrc after $(( $(date +%s) - start )) s"
got=$(run "${long[@]}" --resume ck.nnc | grep "weights digest")
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "resumed after a kill: '$got', uninterrupted '$want'"
# a rank stopped (SIGSTOP: alive, silent): the other gives up after
# --timeout and ends the job, naming the cause
"$mpiexec" -n 2 --oversubscribe --bind-to none "$build/nntrain-mpi" "${long[@]}" --timeout 2 >stall.log 2>&1 &
job=$!
for _ in $(seq 200); do [ "$(pgrep -fc "nntrain-mpi --limit 1000")" -ge 2 ] && break; sleep 0.05; done
sleep 1 # into the training (about 6 s long); a stop while loading data is caught at the start-up checks
victim=$(pgrep -f "nntrain-mpi --limit 1000" | tail -1)
[ -n "$victim" ] && kill -STOP "$victim"
start=$(date +%s)
wait "$job"; jrc=$?
[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
[ $jrc -ne 0 ] && [ $(( $(date +%s) - start )) -le 20 ] && grep -q "no answer from the other ranks within 2 s" stall.log \
  && ok || bad "stopped rank: exit $jrc after $(( $(date +%s) - start )) s: $(cat stall.log)"
run --timeout -1 2>&1 | grep -q -- "^nntrain-mpi: --timeout" && ok || bad "--timeout -1 not refused naming the program and the flag"
echo "mpi_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
