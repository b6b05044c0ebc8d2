"""Tokens per second of the embedded model on this machine, raw HTTP vs through `backprose.llm.Local`.

The baseline posts to the llama.cpp server with `urllib` and nothing else; the same requests through our
client show what our layer (openai package, retries, accounting) costs. Each prompt starts with a fresh
nonce so llama.cpp's prefix cache never skips prompt evaluation.

    python bench/local_model.py [--model NAME_OR_GGUF] [--rounds 3] [--decode 48]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable

from backprose.llm.local import Local, available_cores

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


def raw_call(base_url: str, model: str) -> Callable[[list[dict[str, str]], int], tuple[int, int, float]]:
    def call(msgs: list[dict[str, str]], max_tokens: int) -> tuple[int, int, float]:
        body = json.dumps({"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": 0})
        request = urllib.request.Request(
            f"{base_url}/chat/completions", body.encode(), {"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as reply:
            usage = json.load(reply)["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"], time.perf_counter() - start

    return call


def client_call(client: Local) -> Callable[[list[dict[str, str]], int], tuple[int, int, float]]:
    def call(msgs: list[dict[str, str]], max_tokens: int) -> tuple[int, int, float]:
        start = time.perf_counter()
        reply = client.complete(msgs, max_tokens=max_tokens, temperature=0)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decode", type=int, default=48)
    args = parser.parse_args()

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

    def median(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    print(f"model: {client.model}  cores: {available_cores()}  n_threads: {threads}  "
          f"server ready in {ready:.1f}s")  # fmt: skip
    print(f"prompt: {results['raw'][0][2]} tokens, decode: {results['raw'][0][3]} tokens, "
          f"median of {args.rounds} rounds")  # fmt: skip
    print(f"{'':10}{'raw urllib':>14}{'Local client':>14}{'client/raw':>12}")
    for label, i in (("prompt", 0), ("decode", 1)):
        base, ours_rate = median("raw", i), median("client", i)
        print(f"{label + ' t/s':10}{base:14.1f}{ours_rate:14.1f}{ours_rate / base:12.2f}")


if __name__ == "__main__":
    main()
