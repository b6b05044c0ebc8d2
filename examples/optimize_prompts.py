"""Optimize prompts offline: the `backprose` CLI on a JSONL dataset, then the HTML report.

    python examples/optimize_prompts.py                # live, about 10 minutes on the local model
    python examples/optimize_prompts.py --replay examples/replays/optimize_prompts.jsonl   # seconds
    BACKPROSE_BASE_URL=... BACKPROSE_MODEL=... OPENAI_API_KEY=... python examples/optimize_prompts.py

It runs exactly what you would type in a shell:

    backprose optimize examples/optimize_prompts.py:program --data examples/data/reviews.jsonl \\
        --metric normalized_match --steps 2 --batch-size 2 --out runs/optimize_prompts
    backprose report runs/optimize_prompts

The program below is a `bp.Agent` labelling product reviews; the metric wants the bare word `positive` or
`negative`, and the starting prompt does not say so. The CLI caches every model answer; fast mode loads
the committed answers of a recorded run into that cache and replays them, so no model is needed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import backprose as bp

HERE = Path(__file__).resolve().parent
MODEL = "qwen2.5-coder-0.5b-instruct-q4"  # the recorded run's model


def program() -> bp.Agent:
    """What `backprose optimize examples/optimize_prompts.py:program` loads."""
    return bp.Agent(system="You are a helpful assistant.", instructions="Read this product review.",
                    name="labeller", max_tokens=8, temperature=0)


def main() -> None:
    from _llm import add_llm_args, export_cache, import_cache

    from backprose.cli import main as cli
    from backprose.testing_server import FakeOpenAIServer

    parser = add_llm_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--out", default=time.strftime("runs/optimize_prompts-%Y%m%d-%H%M%S"))
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    cache_dir = tempfile.mkdtemp(prefix="backprose-example-cache-")
    if args.replay:
        # The same client class as the recorded run (`Local`), pointed at a stand-in server that only tells
        # the model's name: every answer comes from the cache, and a miss raises instead of asking.
        server = FakeOpenAIServer(reply=lambda body: "(not recorded)", models=[MODEL]).start()
        rows = import_cache(args.replay, cache_dir, model=f"default@{server.base_url}")
        print(f"fast mode: {rows} recorded answers, no model calls")
        for name in ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY"):
            os.environ.pop(name, None)
        # The recorded run's server (xllamacpp) took json_schema response formats; the stand-in must ask alike.
        os.environ.update(BACKPROSE_CACHE_MODE="replay", BACKPROSE_LOCAL_BASE_URL=server.base_url,
                          BACKPROSE_LOCAL_RESPONSE_FORMAT="json_schema")
    os.environ["BACKPROSE_CACHE_DIR"] = cache_dir
    code = cli(["optimize", f"{HERE / 'optimize_prompts.py'}:program", "--data", str(HERE / "data/reviews.jsonl"),
                "--metric", "normalized_match", "--steps", str(args.steps), "--batch-size", "2",
                "--concurrency", "1", "--out", args.out])
    if code == 0:
        code = cli(["report", args.out])
    if args.record:
        print(f"recorded {export_cache(cache_dir, args.record)} answers to {args.record}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
