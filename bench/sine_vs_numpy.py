#!/usr/bin/env python3
"""The seed's sine step: nn against the seed's own NumPy loop, interleaved.

    bench/sine_vs_numpy.py [--nnbench build/bench/nnbench] [--rounds 5] [--seconds 1]

One full-batch gradient-descent step of the seed's 1-20-1 network (sigmoid
hidden layer, identity output, MSE) on x in [-5, 5), y = sin(x), float32, at
batch 100 and 1000:
  numpy   the seed post's loop as printed there (evaluate layer by layer,
          keep Z and A, dA = (A - Y)/m, dZ = dA * g'(Z), dW = dZ·Aᵀ,
          db = Σ dZ, W -= lr·dW), OpenBLAS at 1 thread (its fastest here:
          the products are tiny)
  nn      nnbench's train/<isa>/t1/1-20-1/b<B> rows (nn_train_step, SGD)
Each round runs every contender once, so the machine's drifting speed hits
all alike; the ratio is taken per round, and the median ratio is reported
with the rounds' range. Run with Debian's /usr/bin/python3 (python3-numpy).
"""
import json
import os
import statistics
import subprocess
import sys
import time

BATCHES = (100, 1000)
LR = 0.1


def numpy_step_rate(batch, seconds):
    import numpy as np
    f32 = np.float32
    rng = np.random.default_rng(0)
    x = (np.arange(batch, dtype=f32) * f32(10.0 / batch) - f32(5)).reshape(1, batch)
    y = np.sin(x)
    sizes = (1, 20, 1)
    layers = [[(rng.standard_normal((o, i)) * 0.2).astype(f32), np.zeros((o, 1), f32)]
              for i, o in zip(sizes[:-1], sizes[1:])]
    sig = lambda z: 1 / (1 + np.exp(-z))
    g = [(sig, lambda z: sig(z) * (1 - sig(z))), (lambda z: z, lambda z: np.ones_like(z))]
    lr, m = f32(LR), batch

    def step():
        values = [(None, x)]
        a = x
        for (w, b), (g0, _) in zip(layers, g):
            z = np.dot(w, a) + b
            a = g0(z)
            values.append((z, a))
        grads = []
        dz = None
        for l in range(len(layers), 0, -1):
            if l == len(layers):
                da = (values[l][1] - y) / f32(m)
            else:
                da = np.dot(layers[l][0].T, dz)
            dz = da * g[l - 1][1](values[l][0])
            grads.append((np.dot(dz, values[l - 1][1].T), np.sum(dz, axis=1, keepdims=True)))
        for (w, b), (dw, db) in zip(layers, reversed(grads)):
            w -= lr * dw
            b -= lr * db

    for _ in range(50):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            step()
        n += 20
    return n / (time.perf_counter() - t0)


def run_numpy(batch, seconds):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # they slow a current OpenBLAS where set
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, __file__, "--worker", str(batch), str(seconds)],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        sys.exit(f"sine_vs_numpy: the NumPy worker failed: {lines[-1] if lines else out.returncode}")
    return float(out.stdout)


def run_nn(nnbench, isa, seconds):
    out = subprocess.run([nnbench, f"--benchmark_filter=^train/{isa}/t1/1-20-1/",
                          f"--benchmark_min_time={seconds}", "--benchmark_format=json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sine_vs_numpy: {nnbench} failed: {out.stderr.strip()[-200:]}")
    rows = json.loads(out.stdout)["benchmarks"]
    return {int(r["name"].split("/b")[1].split("/")[0]): r["samples/s"] / int(r["name"].split("/b")[1].split("/")[0])
            for r in rows}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(numpy_step_rate(int(sys.argv[2]), float(sys.argv[3])))
        return 0
    import argparse
    ap = argparse.ArgumentParser(description="nn against the seed's NumPy loop on the sine step")
    ap.add_argument("--nnbench", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "nnbench"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--isa", default=None, help="nn's ISA (default: the best nnbench lists)")
    a = ap.parse_args()
    if a.rounds < 1 or a.seconds <= 0:
        ap.error("--rounds must be >= 1 and --seconds > 0")
    try:
        probe = subprocess.run([a.nnbench, "--benchmark_list_tests", "--benchmark_filter=^train/"],
                               capture_output=True, text=True)
    except OSError as e:
        sys.exit(f"sine_vs_numpy: cannot run {a.nnbench}: {e.strerror} (build it: scripts/bench.sh)")
    isa = a.isa or next((i for i in ("avx512", "avx2", "neon", "scalar") if f"train/{i}/t1/1-20-1" in probe.stdout), None)
    if not isa or f"train/{isa}/t1/1-20-1" not in probe.stdout:
        sys.exit(f"sine_vs_numpy: nnbench has no train/{isa}/t1/1-20-1 rows")
    ratios = {b: [] for b in BATCHES}
    times = {b: ([], []) for b in BATCHES}
    for r in range(a.rounds):
        nn = run_nn(a.nnbench, isa, a.seconds)
        for b in BATCHES:
            np_rate = run_numpy(b, a.seconds)
            ratios[b].append(nn[b] / np_rate)
            times[b][0].append(1e6 / nn[b])
            times[b][1].append(1e6 / np_rate)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"sine step (1-20-1, full batch, SGD), nn {isa} 1 thread vs seed-style NumPy float32,")
    print(f"{a.rounds} interleaved rounds of {a.seconds:g} s; medians, ratio per round:")
    for b in BATCHES:
        nt, pt = statistics.median(times[b][0]), statistics.median(times[b][1])
        rs = sorted(ratios[b])
        print(f"  batch {b:5d}: nn {nt:8.2f} us  numpy {pt:8.2f} us  nn is {statistics.median(rs):5.1f}x "
              f"(rounds {rs[0]:.1f}-{rs[-1]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
