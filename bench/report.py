#!/usr/bin/env python3
"""Markdown tables from an nnbench JSON file (the README's figures).

    build/bench/nnbench --benchmark_out=r.json --benchmark_out_format=json
    bench/report.py r.json
"""
import json
import sys


def cell(r, value, notes=()):
    """One table cell: `value` of the row and, in parentheses, those of its
    counters (name, format) that the row has; a dash if there is no row."""
    if not r:
        return " – |"
    extra = [fmt.format(r[name]) for name, fmt in notes if name in r]
    mark = "!" if "off_cpu" in r else ""  # disturbed: see the list at the end
    return f" {mark}{value(r)}" + (f" ({', '.join(extra)})" if extra else "") + " |"


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    rows = {b["name"].replace("/real_time", ""): b for b in data["benchmarks"]
            if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")}
    ctx = data["context"]
    print(f"Machine: {ctx.get('nn_cpu')}, {ctx.get('nn_topology')}; {ctx.get('nn_caches')}; "
          f"{ctx.get('nn_compiler')}; {ctx.get('nn_openblas', 'no OpenBLAS')}; "
          f"oneDNN {ctx.get('nn_onednn', 'not found')}\n")

    peaks = {k: v["GFLOP/s"] for k, v in rows.items() if k.startswith("peak/")}
    print("FMA peak probe (GFLOP/s): " + ", ".join(f"{k[5:]} {v:.0f}" for k, v in peaks.items()) + "\n")
    reads = {k: v["GB/s"] for k, v in rows.items() if k.startswith("read/")}
    if reads:
        net = next(iter(reads)).split("/")[3]
        print(f"Read probe, the bytes of {net}'s weights (GB/s): "
              + ", ".join(f"{'/'.join(k.split('/')[1:3])} {v:.0f}" for k, v in reads.items()) + "\n")

    shapes = []
    for k in rows:
        if k.startswith("gemm/naive/") or k.startswith("gemm/openblas/t1/"):
            s = k[len("gemm/naive/"):] if k.startswith("gemm/naive/") else k.split("/", 3)[-1]
            if s not in shapes:
                shapes.append(s)
    # from every kind of row, so that a filtered run (e.g. only infer/) has its columns
    isas = [i for i in ("avx512", "avx2", "neon", "scalar") if any(k.split("/")[1] == i for k in rows)]
    threads = sorted({k.split("/")[2] for k in rows if k.count("/") >= 2 and k.split("/")[2][:1] == "t"
                      and k.split("/")[2][1:].isdigit()}, key=lambda t: int(t[1:]))
    print("GEMM, GFLOP/s (× naive reference, % of the ISA's peak at that thread count, "
          "× the faster of OpenBLAS and oneDNN at that thread count, timed interleaved with nn's "
          "calls in nn's row, ×P):\n")
    head = "| shape (form/MxNxK) | naive |" + "".join(f" OpenBLAS {t} |" for t in threads) + "".join(
        f" oneDNN {t} |" for t in threads) + "".join(f" {i} {t} |" for i in isas for t in threads)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for s in shapes:
        line = f"| {s} |"
        line += cell(rows.get(f"gemm/naive/{s}"), lambda r: f"{r['GFLOP/s']:.1f}")
        for t in threads:
            line += cell(rows.get(f"gemm/openblas/{t}/{s}"), lambda r: f"{r['GFLOP/s']:.0f}")
        for t in threads:
            line += cell(rows.get(f"gemm/onednn/{t}/{s}"), lambda r: f"{r['GFLOP/s']:.0f}")
        for i in isas:
            for t in threads:
                line += cell(rows.get(f"gemm/{i}/{t}/{s}"), lambda r: f"{r['GFLOP/s']:.0f}",
                             [("x_naive", "{:.0f}×"), ("pct_peak", "{:.0f}%"), ("x_best_peer", "{:.2f}×P")])
        print(line)

    print("\nActivations and reductions, G elements/s (× scalar):\n")
    print("| kernel | " + " | ".join(isas[::-1]) + " |")
    print("|---|" + "---|" * len(isas))
    keys = []
    for k in rows:
        if k.startswith(("act/", "reduce/")):
            kind, isa, rest = k.split("/", 2)
            if (kind, rest) not in keys:
                keys.append((kind, rest))
    for kind, rest in keys:
        line = f"| {kind} {rest} |"
        for i in isas[::-1]:
            line += cell(rows.get(f"{kind}/{i}/{rest}"), lambda r: f"{r['items_per_second'] / 1e9:.2f}",
                         [("x_scalar", "{:.1f}×")])
        print(line)

    infer = []
    for k in rows:
        if k.startswith("infer/"):
            key = "/".join(k.split("/")[3:])
            if key not in infer:
                infer.append(key)
    if infer:
        peers = [p for p in ("openblas", "onednn") if any(k.startswith(f"infer/{p}/") for k in rows)]
        print("\nInference (nn_predict; the peers: their products alone, no bias or activation), "
              "µs per call (weights streamed, GB/s; % of the read probe; × the faster peer at "
              "that thread count, timed interleaved):\n")
        print("| network/batch |" + "".join(f" {p} {t} |" for p in peers for t in threads)
              + "".join(f" {i} {t} |" for i in isas for t in threads))
        print("|---|" + "---|" * (len(peers) * len(threads) + len(isas) * len(threads)))
        for n in infer:
            line = f"| {n} |"
            for p in peers:
                for t in threads:
                    line += cell(rows.get(f"infer/{p}/{t}/{n}"), lambda r: f"{r['us_per_call']:.1f}")
            for i in isas:
                for t in threads:
                    line += cell(rows.get(f"infer/{i}/{t}/{n}"), lambda r: f"{r['us_per_call']:.1f}",
                                 [("weight_GB/s", "{:.0f} GB/s"), ("pct_read", "{:.0f}% of read"),
                                  ("x_best_peer", "{:.2f}×P")])
            print(line)

    serve = [k for k in rows if k.startswith("serve/")]
    if serve:
        net = "/".join(serve[0].split("/")[3:])
        callers = sorted({k.split("/")[2] for k in serve}, key=lambda c: int(c[1:]))
        who = [p for p in ("openblas", "onednn") if any(k.startswith(f"serve/{p}/") for k in serve)] + isas
        print(f"\nServing {net}: C callers at once on one shared model, each call on its caller's "
              "thread; thousand calls/s in all (µs per call; × the same column with one caller; "
              "× the faster peer, timed interleaved):\n")
        print("| callers |" + "".join(f" {w} |" for w in who))
        print("|---|" + "---|" * len(who))
        for c in callers:
            line = f"| {c[1:]} |"
            for w in who:
                line += cell(rows.get(f"serve/{w}/{c}/{net}"), lambda r: f"{r['calls/s'] / 1e3:.0f}",
                             [("us_per_call", "{:.1f} µs"), ("x_c1", "{:.2f}×c1"), ("x_best_peer", "{:.2f}×P")])
            print(line)

    nets = []
    for k in rows:
        if k.startswith("train/"):
            parts = k.split("/")
            key = "/".join(parts[-2:])
            if key not in nets:
                nets.append(key)
    if nets:
        training_table(rows, nets, isas, threads)
    disturbed = [(k, r["off_cpu"]) for k, r in rows.items() if "off_cpu" in r]
    if disturbed:
        print("\nDisturbed rows (marked !): their thread was off the CPU for this share of the time "
              "(the OS or the hypervisor ran something else); rerun them to compare:\n")
        for k, off in disturbed:
            print(f"- {k}: {100 * off:.0f} %")


def training_table(rows, nets, isas, threads):
    print("\nTraining step (nn_train_step, SGD), samples/s (× naive reference step):\n")
    print("| network/batch | naive |" + "".join(f" {i} {t} |" for i in isas for t in threads))
    print("|---|---|" + "---|" * (len(isas) * len(threads)))
    for n in nets:
        line = f"| {n} |" + cell(rows.get(f"train/naive/{n}"), lambda r: f"{r['samples/s']:.0f}")
        for i in isas:
            for t in threads:
                line += cell(rows.get(f"train/{i}/{t}/{n}"), lambda r: f"{r['samples/s']:.0f}",
                             [("x_naive", "{:.0f}×")])
        print(line)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else print(__doc__))
