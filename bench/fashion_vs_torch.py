#!/usr/bin/env python3
"""Time per epoch on Fashion-MNIST: nntrain against PyTorch, run in one go.

    bench/fashion_vs_torch.py [--epochs 3] [--rounds 4] [--nntrain build/nntrain]

Both train 784-256-128-10 (ReLU, softmax + cross-entropy) with Adam, learning
rate 1e-3, minibatch 128, shuffled each epoch, on the 60000 training images
of /usr/share/datasets/fashion-mnist, and report seconds per epoch (training
only; evaluation excluded; the median epoch of each run, so with the default
3 epochs the first one, which also pays for first-touch page faults and
warm-up in both, does not count) and the final test accuracy. Each round runs nn
once and then PyTorch at every combination of 1..cores intra-op and OpenBLAS
threads, and compares nn with the fastest PyTorch run of that round: the
machine's speed drifts over minutes, so only figures taken side by side
count, and PyTorch gets its best setting as the machine is at that moment.
The result is the median of the per-round ratios. Skips PyTorch with a
message where it is missing.
Use Debian's /usr/bin/python3 (python3-numpy, python3-torch).
"""
import gzip
import os
import re
import statistics
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind):
    import numpy as np
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


def torch_worker(epochs, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    xtr, ytr = (torch.from_numpy(a) for a in load("train"))
    xte, yte = (torch.from_numpy(a) for a in load("t10k"))
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"{statistics.median(times)} {acc}")


def run_torch(epochs, threads, blas):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas))
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    out = subprocess.run([sys.executable, __file__, "--worker", str(epochs), str(threads)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["failed"])[-1]
    t, acc = out.stdout.split()
    return (float(t), float(acc)), None


def run_nn(nntrain, epochs):
    out = subprocess.run([nntrain, "--epochs", str(epochs), "--schedule", "constant", "--quiet",
                          "--save", "", "--csv", "", "--svg", ""], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    # seconds from samples/s: the printed seconds have only two decimals
    n = [float(m) for m in re.findall(r"(\d+) training,", out.stdout)][0]
    secs = [n / float(m) for m in re.findall(r"\((\d+) samples/s\)", out.stdout)]
    acc = [float(m) for m in re.findall(r"test accuracy: (\S+)", out.stdout)]
    return statistics.median(secs), acc[-1]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        torch_worker(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    args = sys.argv[1:]
    opt = lambda k, d: args[args.index(k) + 1] if k in args else d
    epochs = int(opt("--epochs", 3))
    nntrain = opt("--nntrain", os.path.join(os.path.dirname(__file__), "..", "build", "nntrain"))
    if not os.path.exists(f"{DATA}/train-images-idx3-ubyte.gz"):
        print("Fashion-MNIST missing: apt-get install dataset-fashion-mnist", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    rounds = int(opt("--rounds", 4))
    settings = [(t, b) for t in range(1, cores + 1) for b in range(1, cores + 1)]
    ratios, nn_secs, torch_secs, wins = [], [], [], {}
    for rnd in range(rounds):
        r = run_nn(nntrain, epochs)
        if r is None:
            print(f"cannot run {nntrain}: build it first", file=sys.stderr)
            return 1
        best, skipped = None, None
        for t, b in settings:
            v, err = run_torch(epochs, t, b)
            if v is None:
                skipped = err
            elif best is None or v[0] < best[0][0]:
                best = (v, t, b)
        if best is None:
            print(f"nn (nntrain): {r[0]:.3f} s per epoch, test accuracy {r[1]:.4f}; torch skipped: {skipped}")
            return 0
        (v, t, b) = best
        wins[(t, b)] = wins.get((t, b), 0) + 1
        nn_secs.append(r[0]), torch_secs.append(v[0]), ratios.append(r[0] / v[0])
        print(f"round {rnd + 1}/{rounds}: nn {r[0]:.3f} s, torch {v[0]:.3f} s per epoch (omp {t}, blas {b})",
              file=sys.stderr)
    print(f"Fashion-MNIST, 784-256-128-10, Adam 1e-3, minibatch 128, {epochs} epochs per run, "
          f"{rounds} rounds; seconds per epoch (training only):")
    print(f"  nn (nntrain)           median {statistics.median(nn_secs):.3f} s   "
          f"({', '.join(f'{x:.3f}' for x in nn_secs)})   test accuracy {r[1]:.4f}")
    won = ", ".join(f"omp {t} blas {b}: {n}" for (t, b), n in sorted(wins.items()))
    print(f"  torch, best of {len(settings)} thread settings per round   median {statistics.median(torch_secs):.3f} s   "
          f"({', '.join(f'{x:.3f}' for x in torch_secs)})   test accuracy {v[1]:.4f}   [fastest: {won}]")
    print(f"nn time / torch time, median of the per-round ratios: {statistics.median(ratios):.2f} "
          f"({', '.join(f'{x:.2f}' for x in ratios)})")
    return 0

if __name__ == "__main__":
    sys.exit(main())
