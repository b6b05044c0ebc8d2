"""Core speed and memory: traced-op overhead, backward scaling, memory per node.

Prints each figure beside a baseline measured in the same run (a plain Python call, and trace-opt when it
is installed: `pip install trace-opt`). Goals: at most 5 us per traced op and at least 20x less than
trace-opt; backward time per node flat within 1.5x from 1k to 100k nodes; 100k nodes well under a second.

    python bench/core_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

import backprose as bp


def best_of(fn, repeat: int = 5) -> float:
    """Best wall time of `repeat` runs: the least noisy estimate on a shared machine."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_op(n: int, make_op) -> float:
    op = make_op()
    return best_of(lambda: [op() for _ in range(n)]) / n


def op_overhead(n: int) -> dict[str, float]:
    x = bp.param(1, name="x")

    @bp.bundle()
    def inc(v):
        return v + 1

    def plain_inc(v):
        return v + 1

    figures = {
        "plain call": per_op(n, lambda: lambda: plain_inc(1)),
        "bp operator (x + 1)": per_op(n, lambda: lambda: x + 1),
        "bp bundle call": per_op(n, lambda: lambda: inc(x)),
    }
    try:
        from opto import trace as opto_trace
    except ImportError:
        print("trace-opt not installed: `pip install trace-opt` to compare")
        return figures
    tx = opto_trace.node(1)

    @opto_trace.bundle()
    def tinc(v):
        return v + 1

    figures["trace-opt operator (x + 1)"] = per_op(n // 10, lambda: lambda: tx + 1)
    figures["trace-opt bundle call"] = per_op(n // 10, lambda: lambda: tinc(tx))
    return figures


def chain(n: int, lib=bp):
    x = lib.node(0) if lib is not bp else bp.param(0, name="x")
    for _ in range(n):
        x = x + 1
    return x


def wide(n: int):
    """A wide DAG: n/10 parameters, each feeding a chain of 9 ops, summed pairwise into one output."""
    layer = [bp.param(i, name=f"p{i}") for i in range(n // 10)]
    cols = []
    for p in layer:
        v = p
        for _ in range(8):
            v = v * 1
        cols.append(v)
    while len(cols) > 1:
        cols = [cols[i] + cols[i + 1] if i + 1 < len(cols) else cols[i] for i in range(0, len(cols), 2)]
    return cols[0]


def backward_time(build, n: int, repeat: int = 3) -> tuple[float, int]:
    times = []
    for _ in range(repeat):
        out = build(n)
        size = len(bp.topological_order(out))
        gc.collect()
        start = time.perf_counter()
        out.backward("feedback")
        times.append(time.perf_counter() - start)
        del out
    return min(times), size


def trace_opt_backward(n: int) -> float | None:
    try:
        from opto import trace as opto_trace
    except ImportError:
        return None
    x = opto_trace.node(0, trainable=True)
    for _ in range(n):
        x = x + 1
    start = time.perf_counter()
    x.backward("feedback")
    return time.perf_counter() - start


def memory_per_node(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    out = chain(n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del out
    return (after - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    sys.setrecursionlimit(10_000)
    n_ops = 20_000 if args.quick else 200_000
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]

    print("== traced-op overhead (per call) ==")
    ops = op_overhead(n_ops)
    base = ops["plain call"]
    for name, secs in ops.items():
        print(f"{name:32s} {secs * 1e6:8.2f} us   {secs / base:7.1f}x plain")
    if "trace-opt operator (x + 1)" in ops:
        for kind in ("operator (x + 1)", "bundle call"):
            ratio = ops[f"trace-opt {kind}"] / ops[f"bp {kind}"]
            print(f"trace-opt / backprose, {kind:18s} {ratio:7.1f}x  (goal >= 20x)")

    print("\n== backward (time per node) ==")
    for label, build in (("chain", chain), ("wide DAG", wide)):
        rows = []
        for n in sizes:
            secs, size = backward_time(build, n)
            rows.append(secs / size)
            print(f"{label:9s} {size:>7d} nodes  {secs * 1e3:8.1f} ms  {secs / size * 1e6:6.2f} us/node")
        print(f"{label:9s} per-node time, largest / smallest: {rows[-1] / rows[0]:.2f}x (goal <= 1.5x)")
    for n in (1_000, 3_000) if not args.quick else (1_000,):
        secs = trace_opt_backward(n)
        if secs is not None:
            ours, size = backward_time(chain, n)
            print(f"trace-opt chain {n:>6d} nodes  {secs * 1e3:8.1f} ms   ({secs / ours:.0f}x backprose)")

    print("\n== memory ==")
    n = sizes[-1]
    print(f"memory per node at {n} nodes: {memory_per_node(n):.0f} bytes")


if __name__ == "__main__":
    main()
