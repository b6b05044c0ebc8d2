"""The demo's program: one model call with trainable instructions and trainable worked examples.

The starting prompt only says to solve the problem, so the small model answers in sentences; the metric
wants the bare number. Nothing in the parameters' descriptions says so: the metric's feedback on each reply
is the optimizer's only teacher. The worked examples start empty and are shown as earlier turns, each under
the current instructions (as `bp.Agent` shows its own).
"""

from __future__ import annotations

from typing import Any

from backprose.agent import call_llm, check_demos, compose_prompt, worked_examples
from backprose.module import Module
from backprose.nodes.node import Node
from backprose.nodes.parameter import param

START = "Solve this math word problem."
# a bare number takes a few tokens; a sentence is plain after 16. Longer replies only cost time: every
# unsolved problem decodes to the limit, and each is quoted into the optimizer's prompt.
MAX_TOKENS = 16


class Solver(Module):
    """Answers arithmetic word problems; the optimizer rewrites `instructions` and fills `demos`."""

    def __init__(self, instructions: str = START, llm: Any = None) -> None:
        self.instructions = param(instructions, name="instructions",
                                  description="instructions given to the model before each word problem",
                                  constraint="one or two short sentences")
        self.demos = param([], name="demos", projection=check_demos,
                           description="worked examples (a problem and a good reply) shown before each problem")
        self.llm = llm

    def __call__(self, question: Any) -> Node:
        prompt = compose_prompt(self.instructions, question)
        return call_llm(prompt, demos=worked_examples(self.instructions, self.demos), llm=self.llm,
                        max_tokens=MAX_TOKENS, temperature=0)


def program() -> Solver:
    """What `backprose optimize backprose/demo/program.py:program` loads."""
    return Solver()
