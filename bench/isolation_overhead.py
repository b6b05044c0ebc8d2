"""How much isolation costs: isolated vs in-process throughput, measured in the same run.

Each call runs in a fresh child forked from a warm worker, so no candidate sees another's state. Prints the
fixed per-call overhead (trivial function) and its ratio to an in-process call, the cost of the fork
alone (a bare fork and exit in a small interpreter, the baseline for that part), the ratio for a realistic ~50 ms
task (goal: isolated at most 1.5x the in-process time), two-worker throughput, and the cost of a crashed
call and of replacing a timed-out worker.
Usage: python bench/isolation_overhead.py [calls]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from backprose.isolation import Limits, Sandbox

TRIVIAL = "def f(x):\n    return x\n"
TASK = """
def f(rows, rounds):
    # A stand-in for LLM-written data wrangling: parse, filter, aggregate.
    total = 0.0
    seen = {}
    for _ in range(rounds):
        for i, row in enumerate(rows):
            key = row["name"][:3]
            seen[key] = seen.get(key, 0) + 1
            if row["value"] % 3:
                total += (row["value"] * 1.5) ** 0.5
    return {"total": round(total, 6), "keys": len(seen)}
"""
ROWS = [{"name": f"item-{i:05d}", "value": i} for i in range(2000)]


def in_process(source: str):
    ns: dict = {}
    exec(compile(source, "<bench>", "exec"), ns)
    return ns["f"]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def interleaved(a, b, n: int) -> tuple[float, float]:
    """Median times of a and b, alternating calls so background load hits both alike."""
    ta, tb = [], []
    for _ in range(n):
        ta += timed(a, 1)
        tb += timed(b, 1)
    return statistics.median(ta), statistics.median(tb)


BARE_FORK = """
import os, statistics, time
times = []
for _ in range(200):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def bare_fork() -> float:
    """Median time to fork, exit and reap a child of a small interpreter, like a worker before any call."""
    out = subprocess.run([sys.executable, "-I", "-c", BARE_FORK], capture_output=True, text=True, check=True)
    return float(out.stdout)


def calibrate_rounds(target: float = 0.05) -> int:
    fn = in_process(TASK)
    fn(ROWS, 2)
    one = statistics.median(timed(lambda: fn(ROWS, 4), 5)) / 4
    return max(1, round(target / one))


def main(calls: int) -> None:
    rounds = calibrate_rounds()
    local_task = in_process(TASK)
    local_trivial = in_process(TRIVIAL)
    with Sandbox(limits=Limits(wall_time=30), workers=1) as sb:
        sb.warm()
        assert sb.run(TASK, "f", (ROWS, rounds)).value == local_task(ROWS, rounds)
        for _ in range(20):  # warm the code cache and allocator in the worker
            sb.run(TRIVIAL, "f", (1,))

        triv_local, triv_iso = interleaved(lambda: local_trivial(1), lambda: sb.run(TRIVIAL, "f", (1,)), 1000)
        print(f"trivial call: in-process {triv_local * 1e6:.2f} us, isolated {triv_iso * 1e3:.3f} ms "
              f"-> fixed overhead {(triv_iso - triv_local) * 1e3:.3f} ms per call "
              f"({triv_iso / triv_local:.0f}x the in-process call)")
        fork = bare_fork()
        print(f"fresh child per call: a bare fork + exit + wait in a small interpreter takes {fork * 1e3:.3f} ms "
              f"-> {fork / triv_iso:.0%} of the isolated trivial call")

        task_local, task_iso = interleaved(
            lambda: local_task(ROWS, rounds), lambda: sb.run(TASK, "f", (ROWS, rounds)), calls
        )
        ratio = task_iso / task_local
        verdict = "OK" if ratio <= 1.5 else "ABOVE GOAL"
        print(f"~50 ms task ({rounds} rounds over {len(ROWS)} rows): in-process {task_local * 1e3:.1f} ms, "
              f"isolated {task_iso * 1e3:.1f} ms -> ratio {ratio:.3f}x (goal <= 1.5x: {verdict})")

        t = time.perf_counter()
        sb.run("def f():\n    import os\n    os._exit(1)\n", "f")
        sb.run(TRIVIAL, "f", (1,))
        print(f"a crashed call (os._exit) + the next call (the warm worker survives): "
              f"{(time.perf_counter() - t) * 1e3:.1f} ms")
        t = time.perf_counter()
        sb.run("def f():\n    while True:\n        pass\n", "f", limits=Limits(wall_time=0.2))
        sb.run(TRIVIAL, "f", (1,))
        print(f"replacing a timed-out worker (0.2 s limit + next call on a fresh interpreter): "
              f"{(time.perf_counter() - t) * 1e3:.1f} ms")

    with Sandbox(limits=Limits(wall_time=30), workers=2) as sb2:
        sb2.warm()
        n = 2 * calls
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: sb2.run(TASK, "f", (ROWS, rounds)), range(n)))
        iso_tp = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(n):
            local_task(ROWS, rounds)
        local_tp = n / (time.perf_counter() - t)
        print(f"throughput, 2 workers from 2 threads: {iso_tp:.1f} calls/s vs in-process sequential "
              f"{local_tp:.1f} calls/s -> {iso_tp / local_tp:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
