#!/usr/bin/env python3
"""nn against a seed-style NumPy loop and PyTorch, measured interleaved.

    bench/frameworks.py [--nnbench build/bench/nnbench] [--rounds 3] [--seconds 2]

Trains 784-256-256-10 (ReLU, ReLU, softmax + cross-entropy) with plain SGD at
minibatch 256 on random data, float32, and reports samples per second:
  nn       nnbench's train/<isa>/t<cores>/784-256-256-10/b256 row (nn_train_step)
  numpy    the seed's loop (np.dot, samples as columns), OpenBLAS at 1..cores
           threads; its fastest setting counts
  torch    nn.Sequential + CrossEntropyLoss + optim.SGD, every combination of
           1..cores intra-op threads and 1..cores OpenBLAS threads (Debian's
           torch calls OpenBLAS); its fastest setting counts
Rounds alternate the contenders so that the machine's drifting speed hits
all of them alike; medians per contender, then the ratios. A framework that
is not installed is skipped with a message. Use Debian's /usr/bin/python3
(python3-numpy, python3-torch).
"""
import json
import os
import statistics
import subprocess
import sys
import time

BATCH, SIZES, LR = 256, (784, 256, 256, 10), 1e-3


def numpy_worker(seconds):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((SIZES[0], BATCH), dtype=np.float32) - 0.5
    y = np.zeros((SIZES[-1], BATCH), dtype=np.float32)
    y[np.arange(BATCH) % SIZES[-1], np.arange(BATCH)] = 1
    ws = [(rng.standard_normal((o, i), dtype=np.float32) * np.float32(np.sqrt(2 / i)),
           np.zeros((o, 1), dtype=np.float32)) for i, o in zip(SIZES[:-1], SIZES[1:])]
    lr = np.float32(LR)

    def step():
        a, acts = x, [x]
        for n, (w, b) in enumerate(ws):
            z = np.dot(w, a) + b
            if n < len(ws) - 1:
                a = np.maximum(z, 0)
            else:
                e = np.exp(z - z.max(axis=0, keepdims=True))
                a = e / e.sum(axis=0, keepdims=True)
            acts.append(a)
        dz = (acts[-1] - y) / np.float32(BATCH)
        for n in range(len(ws) - 1, -1, -1):
            w, b = ws[n]
            dw = np.dot(dz, acts[n].T)
            db = dz.sum(axis=1, keepdims=True)
            if n:
                dz = np.dot(w.T, dz) * (acts[n] > 0)
            w -= lr * dw
            b -= lr * db

    return timed(step, seconds)


def torch_worker(seconds, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = []
    for n, (i, o) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(i, o))
        if n < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(BATCH, SIZES[0]) - 0.5
    y = torch.arange(BATCH) % SIZES[-1]

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return timed(step, seconds)


def timed(step, seconds):
    for _ in range(5):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n * BATCH / (time.perf_counter() - t0)


def run_worker(kind, seconds, threads, blas_threads):
    env = dict(os.environ)
    # these variables slow a current OpenBLAS where the machine sets them
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(seconds), str(threads)],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    return float(out.stdout.strip()), None


def run_nn(nnbench, isa, cores, seconds):
    name = f"^train/{isa}/t{cores}/784-256-256-10/b256/"
    out = subprocess.run([nnbench, f"--benchmark_filter={name}", f"--benchmark_min_time={seconds}",
                          "--benchmark_format=json"], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    text = out.stdout
    rows = json.loads(text)["benchmarks"]
    return rows[0]["samples/s"] if rows else None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, seconds, threads = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
        print(numpy_worker(seconds) if kind == "numpy" else torch_worker(seconds, threads))
        return 0
    args = sys.argv[1:]
    opt = lambda k, d: args[args.index(k) + 1] if k in args else d
    nnbench = opt("--nnbench", os.path.join(os.path.dirname(__file__), "..", "build", "bench", "nnbench"))
    rounds, seconds = int(opt("--rounds", 3)), float(opt("--seconds", 2))
    cores = os.cpu_count() or 1
    probe = subprocess.run([nnbench, "--benchmark_list_tests"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"cannot run {nnbench}: build it first (scripts/bench.sh)", file=sys.stderr)
        return 1
    isa = next((i for i in ("avx512", "avx2", "neon", "scalar")
                if any(f"train/{i}/t" in l for l in probe.stdout.splitlines())), "scalar")
    for t in range(cores, 0, -1):
        if f"train/{isa}/t{t}/784-256-256-10/b256" in probe.stdout:
            cores = t
            break
    results = {}
    skipped = {}
    for r in range(rounds):
        v = run_nn(nnbench, isa, cores, seconds)
        if v:
            results.setdefault(f"nn ({isa}, {cores} threads)", []).append(v)
        settings = [("numpy", 1, b) for b in range(1, cores + 1)]
        settings += [("torch", t, b) for t in range(1, cores + 1) for b in range(1, cores + 1)]
        for kind, threads, blas in settings:
            label = (f"numpy (blas {blas})" if kind == "numpy" else f"torch (omp {threads}, blas {blas})")
            v, err = run_worker(kind, seconds, threads, blas)
            if v is None:
                skipped[kind] = err
            else:
                results.setdefault(label, []).append(v)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    for kind, err in skipped.items():
        print(f"skipped {kind}: {err}")
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"784-256-256-10, SGD, minibatch {BATCH}, {rounds} interleaved rounds of {seconds:g} s, "
          f"samples/s, medians (each round):")
    for k, v in med.items():
        print(f"  {k:<26} {v:12.0f} samples/s   ({', '.join(f'{x:.0f}' for x in results[k])})")
    nn_key = next((k for k in med if k.startswith("nn ")), None)
    np_keys = [k for k in med if k.startswith("numpy")]
    torch_keys = [k for k in med if k.startswith("torch")]
    if nn_key and np_keys:
        best = max(np_keys, key=lambda k: med[k])
        print(f"nn / numpy (fastest setting: {best}): {med[nn_key] / med[best]:.2f}x")
    if nn_key and torch_keys:
        best = max(torch_keys, key=lambda k: med[k])
        print(f"nn / torch (fastest setting: {best}): {med[nn_key] / med[best]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
