#!/usr/bin/env python3
"""Compare two nnbench JSON files (two machines, ISAs, versions or runs).

    nncompare A.json B.json [--filter REGEX]

For every benchmark present in both, prints the time ratio B/A and, for each
rate counter (GFLOP/s, samples/s, items_per_second), the ratio B/A: above 1
means B is faster. Then the geometric mean of the speed ratios. Standard
library only; Google Benchmark's own compare.py (libbenchmark-tools) adds
significance tests for repeated runs.
"""
import json
import math
import re
import sys

RATES = ("GFLOP/s", "samples/s", "items_per_second")


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    rows = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        rows[b["name"]] = b
    return data.get("context", {}), rows


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--filter")]
    filt = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--filter=")), None)
    if len(args) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ctx_a, a = load(args[0])
    ctx_b, b = load(args[1])
    for label, ctx, path in (("A", ctx_a, args[0]), ("B", ctx_b, args[1])):
        print(f"{label}: {path}: {ctx.get('nn_cpu', ctx.get('host_name', '?'))}, "
              f"isa {ctx.get('nn_isa_chosen', '?')}, {ctx.get('nn_topology', '')}")
    common = [n for n in a if n in b and (not filt or re.search(filt, n))]
    if not common:
        print("no benchmark in common", file=sys.stderr)
        return 1
    width = max(len(n) for n in common)
    print(f"\n{'benchmark':<{width}}  {'rate A':>12} {'rate B':>12} {'B/A':>7}")
    logs = []
    for n in common:
        key = next((k for k in RATES if k in a[n] and k in b[n]), None)
        if key:
            ra, rb = a[n][key], b[n][key]
        else:  # fall back to time: speed ratio is A's time over B's
            ra, rb = 1.0 / a[n]["real_time"], 1.0 / b[n]["real_time"]
            key = "1/time"
        ratio = rb / ra if ra > 0 else float("nan")
        if ratio > 0 and math.isfinite(ratio):
            logs.append(math.log(ratio))
        print(f"{n:<{width}}  {ra:12.4g} {rb:12.4g} {ratio:7.3f}  ({key})")
    if logs:
        print(f"\ngeometric mean speed ratio B/A over {len(logs)} benchmarks: "
              f"{math.exp(sum(logs) / len(logs)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
