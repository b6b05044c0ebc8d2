"""The demo as a benchmark: before/after validation score, model calls and wall time on the local model.

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
    from backprose.demo import run_demo
    from backprose.llm import ResponseCache
    from backprose.llm.local import Local

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        llm = Local(cache=True if args.warm else ResponseCache(os.path.join(tmp, "cache")))
        run_demo(out=os.path.join(tmp, "run"), steps=args.steps, llm=llm)
        print(f"total wall time including model start: {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
