#!/usr/bin/env python3
"""Compare two nnbench JSON files (two machines, ISAs, versions or runs).

For every benchmark present in both, prints the median rate of A and of B
over their repetitions (GFLOP/s, samples/s, items_per_second; else 1/time),
the ratio B/A (above 1: B is faster), and, where both have at least 3
repetitions, a two-sided Mann-Whitney U test of the repetitions like Google
Benchmark's compare.py: '*' marks p < 0.05, where the difference is unlikely
to be noise. Then the geometric mean of the ratios. Standard library only.

Run nnbench with --benchmark_repetitions=N (N >= 3; 9 or more for a test
with some power) and --benchmark_out=FILE --benchmark_out_format=json.
"""
import argparse
import json
import math
import re
import statistics
import sys

RATES = ("GFLOP/s", "samples/s", "items_per_second")


def load(path):
    """(context, {name: [rate per repetition]}, {name: rate key})."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise SystemExit(f"nncompare: {path}: {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SystemExit(f"nncompare: {path}: not JSON ({e}); write it with nnbench "
                         "--benchmark_out=FILE --benchmark_out_format=json")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise SystemExit(f"nncompare: {path}: not an nnbench/Google Benchmark JSON file (no 'benchmarks' list)")
    reps, keys = {}, {}
    for b in data["benchmarks"]:
        if not isinstance(b, dict) or "name" not in b:
            continue
        # each repetition's own row; the aggregates (mean, median, ...) are recomputed here
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        key = next((k for k in RATES if k in b), None)
        value = b[key] if key else (1.0 / b["real_time"] if b.get("real_time") else None)
        if value is None:
            continue
        reps.setdefault(name, []).append(float(value))
        keys[name] = key or "1/time"
    return data.get("context", {}), reps, keys


def mann_whitney_p(x, y):
    """Two-sided p-value of the Mann-Whitney U test (normal approximation
    with tie correction and continuity correction, as scipy's default for
    larger samples)."""
    n1, n2 = len(x), len(y)
    allv = sorted((v, i) for i, v in enumerate(list(x) + list(y)))
    ranks = [0.0] * (n1 + n2)
    ties = 0.0
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[allv[k][1]] = r
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    mu = n1 * n2 / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / sigma
    return max(0.0, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def main():
    ap = argparse.ArgumentParser(prog="nncompare", description=__doc__.split("\n\n")[1],
                                 epilog=__doc__.split("\n\n")[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", metavar="A.json")
    ap.add_argument("b", metavar="B.json")
    ap.add_argument("--filter", metavar="REGEX", help="only benchmarks whose name matches REGEX")
    args = ap.parse_args()
    try:
        filt = re.compile(args.filter) if args.filter else None
    except re.error as e:
        ap.error(f"--filter: bad regular expression: {e}")
    ctx_a, a, keys = load(args.a)
    ctx_b, b, _ = load(args.b)
    for label, ctx, path in (("A", ctx_a, args.a), ("B", ctx_b, args.b)):
        print(f"{label}: {path}: {ctx.get('nn_cpu', ctx.get('host_name', '?'))}, isa "
              f"{ctx.get('nn_isa_chosen', '?')}, commit {ctx.get('nn_commit', '?')}")
    common = [n for n in a if n in b and (not filt or filt.search(n))]
    if not common:
        print("nncompare: no benchmark in common" + (f" matching {args.filter}" if filt else ""), file=sys.stderr)
        return 1
    width = max(len(n) for n in common)
    print(f"\n{'benchmark':<{width}}  {'median A':>11} {'median B':>11} {'B/A':>7}  {'p':>6}  reps")
    logs, tested = [], 0
    for n in common:
        ma, mb = statistics.median(a[n]), statistics.median(b[n])
        ratio = mb / ma if ma > 0 else float("nan")
        if ratio > 0 and math.isfinite(ratio):
            logs.append(math.log(ratio))
        p, mark = "", ""
        if len(a[n]) >= 3 and len(b[n]) >= 3:
            pv = mann_whitney_p(a[n], b[n])
            p, mark, tested = f"{pv:6.3f}", "*" if pv < 0.05 else " ", tested + 1
        print(f"{n:<{width}}  {ma:11.4g} {mb:11.4g} {ratio:7.3f}{mark} {p:>6}  {len(a[n])}/{len(b[n])}  ({keys[n]})")
    if logs:
        print(f"\ngeometric mean speed ratio B/A over {len(logs)} benchmarks: {math.exp(sum(logs) / len(logs)):.3f}")
    if tested == 0:
        print("(no significance test: run nnbench with --benchmark_repetitions=9 or more for one)")
    else:
        print("* p < 0.05 (Mann-Whitney U, two-sided, on the repetitions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
