"""Meta Agent Search: what the search buys, and what isolation costs.

1. Fitness of the best discovered design vs the best seed design on the arithmetic task with a fixed
   budget, each as "median (95% interval)" on validation and on the held-out test set, with model calls.
   Uses the embedded local model (`--standin` uses deterministic stand-in models instead, for a quick run).
2. Evaluation throughput: designs evaluated per minute in isolated workers vs in-process (exec in the
   searcher, the unsafe baseline), measured in the same run with a stand-in model of fixed latency.
   Goal: isolated at most 1.5x the in-process time.

Usage: python bench/meta_search.py [--standin] [--generations N] [--problems N] [--seeds a,b]
                                   [--agent-tokens N] [--meta-base-url URL] [--cache DIR] [--archive F]
                                   [--skip-search] [--skip-throughput]

The agents use `Local()` (set `BACKPROSE_LOCAL_BASE_URL` to use a running server); `--meta-base-url` points
the meta agent at another OpenAI-compatible server, e.g. a larger local model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from backprose.isolation import Limits, Sandbox
from backprose.search import Evaluator, MetaAgentSearch, arithmetic
from backprose.search import seeds as seed_designs
from backprose.search.evaluate import _chunks
from backprose.search.worker import ENTRY, SUFFIX

STANDIN = '''
import re, time, zlib

def solve(text):
    total = int(re.search(r"has (\\d+)", text).group(1))
    for m in re.finditer(r"gets (\\d+) more|gives away (\\d+)|doubles", text):
        total = total + int(m.group(1)) if m.group(1) else total - int(m.group(2)) if m.group(2) else total * 2
    return total

def reply(messages, options):
    time.sleep({latency})
    text = messages[-1]["content"]
    if "has " not in text:
        return "CORRECT"
    # Right about half the time, more often when asked to check: a model that rewards verification.
    good = (zlib.crc32(text.encode()) % 10) < (8 if ("check" in text.lower() or "verify" in text.lower()) else 5)
    return "Answer: " + str(solve(text) if good else solve(text) + 1)
'''

STANDIN_DESIGN = json.dumps({"thought": "Solve, then verify the answer with a second call and keep the checked one.",
                             "name": "solve_then_verify", "code": '''from backprose.search.blocks import llm

PROMPTS = {"solve": "Solve: {task}", "check": "Check and verify this answer to {task}: {answer}"}


def forward(task):
    first = llm(PROMPTS["solve"].format(task=task)).rsplit("Answer:", 1)[-1].strip()
    return llm(PROMPTS["check"].format(task=task, answer=first)).rsplit("Answer:", 1)[-1].strip()
'''})


def search_quality(standin: bool, generations: int, n: int, names: list[str], agent_tokens: int = 128,
                   meta_base_url: str | None = None, cache: str | None = None,
                   archive: str | None = None) -> None:
    task = arithmetic(n, n, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        if standin:
            from backprose.llm import Scripted

            meta, agents = Scripted(lambda messages: STANDIN_DESIGN), {"kind": "python",
                                                                       "source": STANDIN.format(latency=0)}
        else:
            from backprose.llm import Local, OpenAI

            agents = Local(options={"max_tokens": agent_tokens}, cache=cache)
            meta = Local(cache=cache) if meta_base_url is None else OpenAI(
                base_url=meta_base_url, timeout=600.0, max_concurrency=1, cache=cache,
                response_format_style="json_object_schema")
        start = time.perf_counter()
        with MetaAgentSearch(task, archive or f"{tmp}/archive.jsonl", meta, agents, seeds=seed_designs.load(names),
                             reflections=1, debug_rounds=2, max_calls=4, limits=Limits(wall_time=900),
                             meta_options={"max_tokens": 700, "temperature": 0.7}) as search:
            result = search.run(generations)
            seeds = [d for d in search.archive if d.operator == "seed" and d.ok]
            best_seed = max(seeds, key=lambda d: (d.fitness.median, d.fitness.mean, -d.id))
            seed_test, seed_ev = search.score(best_seed, "test")
        elapsed = time.perf_counter() - start
        # Requests, whether the server answered or the cache replayed them: the workload of each side.
        seed_calls = (sum(d.usage.get("agent_calls", 0) + d.usage.get("agent_cache_hits", 0) for d in seeds)
                      + seed_ev.usage.get("calls", 0) + seed_ev.usage.get("cache_hits", 0))
        u = result.usage
        models = "stand-in models" if standin else f"agents {agents.base_url}, meta agent {meta.base_url}"
        print(f"== search quality ({models}; {len(task.validation)} "
              f"validation / {len(task.test)} test problems; {generations} generations; {elapsed:.0f} s)")
        print(f"best seed      {best_seed.name:<22} validation {best_seed.fitness}  test {seed_test}  "
              f"agent calls {seed_calls}")
        print(f"best found     {result.best.name:<22} validation {result.validation}  test {result.test}  "
              f"meta calls {u['meta_calls'] + u['meta_cache_hits']}  "
              f"agent calls {u['agent_calls'] + u['agent_cache_hits']} "
              f"(whole search; {u['meta_cache_hits'] + u['agent_cache_hits']} replayed from the cache)")
        for d in search.archive:
            print(f"   {d}")
        delta = result.test.median - seed_test.median
        print(f"test accuracy, best found minus best seed: {100 * delta:+.1f} points")


def throughput(designs: int, latency: float) -> None:
    task = arithmetic(16, 0, seed=3)
    codes = [s.code for s in seed_designs.load(["chain_of_thought", "step_back", "role_assignment"])]
    config = {"kind": "python", "source": STANDIN.format(latency=latency)}
    inputs = task.inputs()

    def in_process(code: str) -> list:
        # The unsafe baseline: the design runs in this very process, in threads like the two workers.
        def run(chunk: list) -> dict:
            ns: dict = {"__name__": "__design__", "__file__": "<design>"}
            exec(compile(code.rstrip() + "\n" + SUFFIX, "<design>", "exec"), ns)
            return ns[ENTRY](chunk, config, {})
        with ThreadPoolExecutor(2) as pool:
            return [a for r in pool.map(run, _chunks(inputs, 2)) for a in r["answers"]]

    with Sandbox(limits=Limits(wall_time=120), workers=2) as sb:
        sb.warm()
        evaluator = Evaluator(config, sandbox=sb, limits=Limits(wall_time=120))
        evaluator.evaluate(codes[0], inputs[:2])  # warm the workers' imports
        in_process(codes[0])
        t0 = time.perf_counter()
        for i in range(designs):
            assert evaluator.evaluate(codes[i % len(codes)], inputs).ok
        isolated = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(designs):
            in_process(codes[i % len(codes)])
        local = time.perf_counter() - t0
    print(f"== evaluation throughput ({designs} designs x {len(inputs)} problems, 2 workers, stand-in model "
          f"with {1000 * latency:.0f} ms per call)")
    print(f"isolated   {60 * designs / isolated:8.1f} designs/min")
    print(f"in-process {60 * designs / local:8.1f} designs/min")
    print(f"isolated / in-process time: {isolated / local:.2f}x (goal < 1.5x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--standin", action="store_true")
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--problems", type=int, default=12, help="validation problems (and as many test problems)")
    ap.add_argument("--seeds", default="chain_of_thought,self_consistency,step_back")
    ap.add_argument("--agent-tokens", type=int, default=128,
                    help="max_tokens of each agent call (the 0.5B model's worked answers average ~100 tokens)")
    ap.add_argument("--meta-base-url", default=None, help="OpenAI-compatible server for the meta agent")
    ap.add_argument("--cache", default=None, help="response cache directory (reruns replay finished calls)")
    ap.add_argument("--archive", default=None, help="archive file to keep (watch it grow; rerun to resume)")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    if not args.skip_throughput:
        throughput(designs=12, latency=0.02)
        throughput(designs=12, latency=0.0)
    if not args.skip_search:
        search_quality(args.standin, args.generations, args.problems, args.seeds.split(","), args.agent_tokens,
                       args.meta_base_url, args.cache, args.archive)


if __name__ == "__main__":
    main()
