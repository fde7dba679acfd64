#!/usr/bin/env bash
# nntrain-mpi under mpiexec (CTest, when MPI was found): rank 0 alone
# prints and saves; the same weights for 1 and 2 threads per rank; the
# saved model scores with nnpredict. Usage: mpi_cli.sh BUILD_DIR MPIEXEC
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
run() { "$mpiexec" -n 2 --oversubscribe --bind-to none "$build/nntrain-mpi" --limit 600 --epochs 2 "$@" 2>&1; }
out1=$(run --threads 1 --save m1.nnm --csv c.csv --svg c.svg); rc1=$?
out2=$(run --threads 2 --save m2.nnm --csv '' --svg ''); rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && ok || bad "exit $rc1 / $rc2: $out1"
[ "$(grep -c '^epoch 2/2' <<<"$out1")" -eq 1 ] && ok || bad "epoch lines printed by more than rank 0: $out1"
grep -q "^2 ranks: [0-9]* samples/s" <<<"$out1" && ok || bad "no samples/s line: $out1"
d1=$(grep "weights digest" <<<"$out1") d2=$(grep "weights digest" <<<"$out2")
[ -n "$d1" ] && [ "$d1" = "$d2" ] && ok || bad "1 and 2 threads per rank differ: '$d1' vs '$d2'"
[ -s m1.nnm ] && [ -s c.csv ] && grep -q "<svg" c.svg && ok || bad "rank 0's files missing"
"$build/nnpredict" m1.nnm --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" \
  | grep -q "accuracy 0\.[5-9]" && ok || bad "the saved model does not score"
echo "mpi_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
