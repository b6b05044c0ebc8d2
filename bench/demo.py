"""The demo as a benchmark: before/after validation score, model calls and wall time on the local models.

Uses a fresh response cache by default so the figures are a cold run (pass --warm to reuse the user's
cache and see the replay time instead).

    python bench/demo.py [--steps 3] [--warm]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warm", action="store_true")
    args = ap.parse_args()
    from backprose.demo import optimizer_model, run_demo
    from backprose.llm import ResponseCache
    from backprose.llm.local import Local

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        def cache(name: str) -> object:
            return True if args.warm else ResponseCache(os.path.join(tmp, name))

        llm = Local(cache=cache("solver"))
        teacher = optimizer_model()
        optimizer_llm = Local(teacher, cache=cache("optimizer")) if teacher else llm
        run_demo(out=os.path.join(tmp, "run"), steps=args.steps, llm=llm, optimizer_llm=optimizer_llm)
        print(f"total wall time including model start: {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
