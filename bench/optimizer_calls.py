"""LLM calls per optimizer step on a 20-op graph: OptoPrime makes one; TextGrad makes one per edge on a path
from the parameter plus one update, against the `textgrad` package's count on the same graph.

    python bench/optimizer_calls.py [--ops 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from optimizer_prompt_size import ours_optoprime, ours_textgrad, textgrad_prompts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20)
    args = parser.parse_args()
    _, optoprime = ours_optoprime(args.ops, 8000)
    _, ours = ours_textgrad(args.ops, 8000)
    try:
        _, theirs = textgrad_prompts(args.ops)
        peer = str(theirs)
        ratio = f"{ours / theirs:.2f}"
    except ImportError:
        peer, ratio = "not installed", "n/a"
    print(f"graph of {args.ops} ops, one trainable text")
    print(f"  ours OptoPrime        {optoprime} call(s) per step")
    print(f"  ours TextGrad         {ours} calls per step ({args.ops} gradients + 1 update)")
    print(f"  textgrad package      {peer} calls per step (its loss op adds one gradient)")
    print(f"  ratio ours/textgrad   {ratio}")


if __name__ == "__main__":
    main()
