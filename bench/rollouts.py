"""Rollout throughput: a 64-example minibatch against a fake server with 200 ms latency.

Baseline: the sequential loop of trace-opt style training (run the program on one example, judge it, go
to the next). Ours: `backprose.train.rollouts` at concurrency 16, bounded by the client's limit. Both run
in this process against the same server, started in its own process; prints both wall times and the
speed-up (goal: at least 10x).

    python bench/rollouts.py [--n 64] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from backprose.agent import call_llm
from backprose.data import Dataset
from backprose.llm import OpenAI
from backprose.module import Module
from backprose.nodes.parameter import param
from backprose.train.rollout import rollouts, run_one


class Echo(Module):
    def __init__(self, llm):
        self.prompt = param("Repeat:", name="prompt")
        self.llm = llm

    def __call__(self, x):
        return call_llm(x, system=self.prompt, llm=self.llm, max_tokens=8)


def guide(output, example):
    return float(str(example.input) in str(output.value)), "echo the input"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "backprose.testing_server", "--latency", str(args.latency)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        llm = OpenAI(model="fake-model", base_url=base_url, api_key="x", max_concurrency=args.concurrency)
        program = Echo(llm)
        data = Dataset([(f"example {i}", None) for i in range(args.n)])
        llm.complete("warm up", max_tokens=1)

        start = time.perf_counter()
        sequential = [run_one(program, ex, guide) for ex in data]
        t_seq = time.perf_counter() - start

        start = time.perf_counter()
        concurrent = rollouts(program, data, guide, concurrency=args.concurrency)
        t_con = time.perf_counter() - start
        assert [r.score for r in sequential] == [r.score for r in concurrent]
        ideal = -(-args.n // args.concurrency) * args.latency
        print(f"{args.n} rollouts, {args.latency * 1000:.0f} ms latency")
        print(f"sequential loop (baseline): {t_seq:.2f}s")
        print(f"backprose rollouts, concurrency {args.concurrency}: {t_con:.2f}s (ideal {ideal:.2f}s)")
        print(f"speed-up: {t_seq / t_con:.1f}x (goal >= 10x)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
