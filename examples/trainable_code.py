"""Trainable code: the optimizer rewrites a function until it passes its unit tests.

    python examples/trainable_code.py                  # live, a few minutes on the local model
    python examples/trainable_code.py --replay examples/replays/trainable_code.jsonl   # seconds, offline
    BACKPROSE_BASE_URL=... BACKPROSE_MODEL=... OPENAI_API_KEY=... python examples/trainable_code.py

`@bp.bundle(trainable=True)` makes the function's source a parameter. Each test calls the function as a
traced op; a wrong result or a raised exception (with its message) becomes that call's feedback, flows
back to the source, and OptoPrime proposes new code. Code the optimizer wrote runs in a worker process
with time and memory limits (see docs/isolation.md), so a bad rewrite cannot hang or break this one.
"""

from __future__ import annotations

import argparse
from typing import Any

from _llm import add_llm_args, client

import backprose as bp


@bp.bundle(trainable=True)
def slugify(title: str) -> str:
    """Turn an article title into a URL slug: lowercase words joined by single hyphens."""
    return title.lower().replace(" ", "-")


TESTS = [("Hello World", "hello-world"), ("Hello, World!", "hello-world"), ("  Trim me  ", "trim-me"),
         ("Many   spaces here", "many-spaces-here"), ("Rock & Roll 2024", "rock-roll-2024")]


def run_tests() -> tuple[list[Any], list[str], int]:
    """Every test's output node (or error node) with its feedback text, and how many passed."""
    outputs, feedback, passed = [], [], 0
    for arg, want in TESTS:
        try:
            out = slugify(arg)
        except bp.ExecutionError as err:  # the error node is in the graph: feedback reaches the source
            outputs.append(err.node)
            feedback.append(f"slugify({arg!r}) raised {err}; it must return {want!r}.")
            continue
        ok = out.value == want
        passed += ok
        outputs.append(out)
        feedback.append("Test passed." if ok else f"slugify({arg!r}) returned {out.value!r}, expected {want!r}.")
    return outputs, feedback, passed


def main() -> None:
    parser = add_llm_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    llm = client(args, {"temperature": 0})
    optimizer = bp.optimizers.OptoPrime([slugify.code], llm=llm, max_tokens=400)
    outputs, feedback, passed = run_tests()
    print(f"step 0: {passed}/{len(TESTS)} tests pass")
    for step in range(1, args.steps + 1):
        if passed == len(TESTS):
            break
        bp.backward(outputs, feedback)
        update = optimizer.step()
        optimizer.zero_feedback()
        for change in update.rejected:
            print(f"  refused: {change.reason}")
        outputs, feedback, passed = run_tests()
        print(f"step {step}: {passed}/{len(TESTS)} tests pass")
    print("final source:\n" + slugify.code.value)
    print(f"tests passed: {passed}/{len(TESTS)}")


if __name__ == "__main__":
    main()
