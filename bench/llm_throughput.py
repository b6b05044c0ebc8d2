"""Throughput of the OpenAI client against a fake server with fixed latency.

For each concurrency limit, N requests go out at once (threads for the sync path, asyncio.gather for the
async path); the client's semaphore should make wall time close to ceil(N / limit) x latency. Prints the
measured time, that ideal, and their ratio (goal: within 1.3x). The server runs in its own process, as a
real one would, so its threads do not compete with the client for this interpreter's GIL.

Each case runs `--repeat` times on one warm client; the best run is compared with the ideal (the usual
way to read a noisy machine) and the median is printed beside it.

    python bench/llm_throughput.py [--n 64] [--latency 0.2] [--limits 1 8 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from backprose.llm import OpenAI


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprose.testing_server", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stats(base_url: str, reset: bool = False) -> dict[str, int]:
    url = base_url + ("/_stats/reset" if reset else "/_stats")
    request = urllib.request.Request(url, data=b"{}" if reset else None)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def run_threads(client: OpenAI, n: int, warmup: int, base_url: str, repeat: int) -> list[float]:
    with ThreadPoolExecutor(max_workers=warmup) as pool:  # imports and one pooled connection per slot
        list(pool.map(lambda i: client.complete(f"warm {i}"), range(warmup)))
    stats(base_url, reset=True)
    walls = []
    for r in range(repeat):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            replies = list(pool.map(lambda i, r=r: client.complete(f"request {r}.{i}").text, range(n)))
        walls.append(time.perf_counter() - start)
        assert replies == [f"echo: request {r}.{i}" for i in range(n)]
    return walls


def run_async(client: OpenAI, n: int, warmup: int, base_url: str, repeat: int) -> list[float]:
    async def main() -> list[float]:
        # Warm up on the same loop: the async client and its connections belong to one event loop.
        await asyncio.gather(*(client.acomplete(f"warm {i}") for i in range(warmup)))
        await asyncio.to_thread(stats, base_url, True)
        walls = []
        for r in range(repeat):
            start = time.perf_counter()
            replies = await asyncio.gather(*(client.acomplete(f"request {r}.{i}") for i in range(n)))
            walls.append(time.perf_counter() - start)
            assert [c.text for c in replies] == [f"echo: request {r}.{i}" for i in range(n)]
        return walls

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--limits", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"{'path':<6} {'limit':>5} {'best s':>8} {'median s':>9} {'ideal s':>8} {'ratio':>6} "
          f"{'max in flight':>14}")
    worst = 0.0
    proc, base_url = start_server(args.latency)
    try:
        for path, runner in (("sync", run_threads), ("async", run_async)):
            for limit in args.limits:
                client = OpenAI(model="fake-model", base_url=base_url, max_concurrency=limit)
                walls = runner(client, args.n, limit, base_url, args.repeat)
                wall, median = min(walls), statistics.median(walls)
                client.close()
                in_flight = stats(base_url)["max_in_flight"]
                ideal = math.ceil(args.n / limit) * args.latency
                ratio = wall / ideal
                worst = max(worst, ratio)
                print(f"{path:<6} {limit:>5} {wall:>8.3f} {median:>9.3f} {ideal:>8.3f} {ratio:>6.2f} "
                      f"{in_flight:>14}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"worst ratio {worst:.2f} (goal <= 1.30): {'ok' if worst <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
