"""Tokens per second of the embedded model on this machine, raw HTTP vs through `backprose.llm.Local`,
the aggregate decode rate of concurrent requests (what the server's parallel slots buy), and the wall
time of one rollout minibatch through the trainer's own path (`backprose.train.rollout.rollouts`: the demo's
Solver on `--minibatch` of its word problems) one example at a time and at the trainer's default
concurrency (`default_workers`, the client's in-flight limit).

The baseline posts to the llama.cpp server with `urllib` and nothing else; the same requests through our
client show what our layer (openai package, retries, accounting) costs. Each prompt starts with a fresh
nonce so llama.cpp's prefix cache never skips prompt evaluation. The concurrent requests ask for exactly
`--concurrent-tokens` tokens each (end of text ignored), so every level does the same work per request.
The minibatch runs twice, each time behind a fresh nonce in the instructions (so neither run reuses the
other's prompt cache), sequential first; the model's replies end where it stops, as in training.

    python bench/local_model.py [--model NAME_OR_GGUF] [--rounds 3] [--decode 48] [--concurrent-tokens 64]
                                [--minibatch 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from backprose.data import load
from backprose.demo import DATA
from backprose.demo.program import START, Solver
from backprose.llm.local import Local, available_cores
from backprose.train.guides import numeric
from backprose.train.rollout import default_workers, rollouts

FILLER = (
    "def add(a, b):\n    return a + b\n\n"
    "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n"
    "        self.items.append(x)\n    def pop(self):\n        return self.items.pop()\n\n"
)


def messages(long: bool) -> list[dict[str, str]]:
    nonce = uuid.uuid4().hex[:8]
    if long:
        content = f"[{nonce}] Read this code and say OK.\n\n" + FILLER * 12
    else:
        content = f"[{nonce}] Write a long Python module: a linked list class with ten methods, docstrings."
    return [{"role": "user", "content": content}]


def raw_call(base_url: str, model: str, **fields: object) -> Callable[[list[dict[str, str]], int],
                                                                       tuple[int, int, float]]:
    def call(msgs: list[dict[str, str]], max_tokens: int) -> tuple[int, int, float]:
        body = json.dumps({"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": 0,
                           **fields})  # fmt: skip
        request = urllib.request.Request(
            f"{base_url}/chat/completions", body.encode(), {"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as reply:
            usage = json.load(reply)["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"], time.perf_counter() - start

    return call


def client_call(client: Local, **options: object) -> Callable[[list[dict[str, str]], int],
                                                              tuple[int, int, float]]:
    def call(msgs: list[dict[str, str]], max_tokens: int) -> tuple[int, int, float]:
        start = time.perf_counter()
        reply = client.complete(msgs, max_tokens=max_tokens, temperature=0, **options)
        return reply.prompt_tokens, reply.completion_tokens, time.perf_counter() - start

    return call


def measure(call: Callable[[list[dict[str, str]], int], tuple[int, int, float]], decode: int) -> tuple:
    """Prompt tok/s from a long prompt with one output token; decode tok/s from the difference between
    a short prompt with `decode` output tokens and the same kind of prompt with one."""
    prompt_tokens, _, seconds = call(messages(long=True), 1)
    prompt_rate = prompt_tokens / seconds
    _, _, base = call(messages(long=False), 1)
    _, produced, total = call(messages(long=False), decode)
    decode_rate = (produced - 1) / max(total - base, 1e-9)
    return prompt_rate, decode_rate, prompt_tokens, produced


def aggregate(call: Callable[[list[dict[str, str]], int], tuple[int, int, float]], concurrency: int,
              tokens: int) -> float:
    """Output tokens per wall-clock second of `concurrency` requests sent at once (prompts included)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(lambda _: call(messages(long=False), tokens), range(concurrency)))
    return sum(produced for _, produced, _ in done) / (time.perf_counter() - start)


def minibatch(client: Local, size: int, concurrency: int) -> tuple[float, float, int]:
    """Wall seconds, mean score and output tokens of the trainer's traced rollouts of `size` demo problems."""
    solver = Solver(f"[{uuid.uuid4().hex[:8]}] {START}", llm=client)
    before = client.usage.completion_tokens
    start = time.perf_counter()
    done = rollouts(solver, list(load(DATA))[:size], numeric, concurrency=concurrency)
    seconds = time.perf_counter() - start
    return seconds, statistics.mean(r.score for r in done), client.usage.completion_tokens - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decode", type=int, default=48)
    parser.add_argument("--concurrent-tokens", type=int, default=64)
    parser.add_argument("--levels", default="1,2,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--minibatch", type=int, default=8, help="demo problems in the rollout minibatch")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    started = time.perf_counter()
    with Local(args.model, cache=None) as client:
        ready = time.perf_counter() - started
        raw = raw_call(client.base_url, client.model)
        ours = client_call(client)
        raw(messages(long=False), 1)  # warm-up: first request pays for buffers and threads
        results: dict[str, list[tuple]] = {"raw": [], "client": []}
        for _ in range(args.rounds):  # interleaved so drift on a busy machine hits both alike
            results["raw"].append(measure(raw, args.decode))
            results["client"].append(measure(ours, args.decode))
        threads = client.server.config.n_threads if client.server else "external"
        slots = client.server.config.n_parallel if client.server else "external"
        fixed = {"ignore_eos": True}  # every concurrent request decodes exactly --concurrent-tokens
        concurrent = {
            "raw": [aggregate(raw_call(client.base_url, client.model, **fixed), n, args.concurrent_tokens)
                    for n in levels],
            "client": [aggregate(client_call(client, extra_body=fixed), n, args.concurrent_tokens)
                       for n in levels],
        }  # fmt: skip
        workers = default_workers(client)
        batch = {n: minibatch(client, args.minibatch, n) for n in (1, workers)}

    def median(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    print(f"model: {client.model}  cores: {available_cores()}  n_threads: {threads}  slots: {slots}  "
          f"client max_concurrency: {client.max_concurrency}  server ready in {ready:.1f}s")  # fmt: skip
    print(f"prompt: {results['raw'][0][2]} tokens, decode: {results['raw'][0][3]} tokens, "
          f"median of {args.rounds} rounds")  # fmt: skip
    print(f"{'':10}{'raw urllib':>14}{'Local client':>14}{'client/raw':>12}")
    for label, i in (("prompt", 0), ("decode", 1)):
        base, ours_rate = median("raw", i), median("client", i)
        print(f"{label + ' t/s':10}{base:14.1f}{ours_rate:14.1f}{ours_rate / base:12.2f}")
    print(f"\naggregate output t/s, {args.concurrent_tokens} tokens per request, against concurrency 1")
    print(f"{'requests':10}{'raw urllib':>14}{'x1':>8}{'Local client':>14}{'x1':>8}{'client/raw':>12}")
    for i, level in enumerate(levels):
        raw_rate, ours_rate = concurrent["raw"][i], concurrent["client"][i]
        print(f"{level:<10}{raw_rate:14.1f}{raw_rate / concurrent['raw'][0]:8.2f}{ours_rate:14.1f}"
              f"{ours_rate / concurrent['client'][0]:8.2f}{ours_rate / raw_rate:12.2f}")  # fmt: skip
    print(f"\nrollout minibatch: {args.minibatch} demo problems through backprose.train.rollout.rollouts "
          f"(default concurrency {workers})")
    print(f"{'concurrency':12}{'wall s':>10}{'tokens':>9}{'score':>8}{'speed-up':>10}")
    for n, (seconds, score, tokens) in batch.items():
        print(f"{n:<12}{seconds:10.1f}{tokens:9d}{score:8.2f}{batch[1][0] / seconds:10.2f}")


if __name__ == "__main__":
    main()
