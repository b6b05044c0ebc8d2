"""A one-call program shaped like the benchmark's, with scripted models: a small program model that follows a
shown example or an instruction to give the number only, and a teacher that writes instructions."""

from __future__ import annotations

import json
import re

import backprose as bp

GOOD = "Reply with the number only."


def small_model(messages):
    """Bare number when shown a worked example or told to; else a sentence, except on '1 plus' questions."""
    a, b = (int(x) for x in re.findall(r"\d+", messages[-1]["content"]))
    shown = any(m["role"] == "assistant" for m in messages)
    told = messages[0]["role"] == "system" and "number only" in messages[0]["content"]
    return str(a + b) if shown or told or a == 1 else f"The sum is {a + b}."


def teacher(replies):
    """A teacher that answers each reflection with the next of `replies` (the last one repeats)."""
    queue = list(replies)

    def reply(messages):
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        return json.dumps({"diagnosis": "the replies are sentences", "instruction": value})
    return reply


class Solver(bp.Module):
    """The benchmark's program: an instruction as the system message, worked examples as earlier turns."""

    def __init__(self, llm, instruction: str = "Add the numbers.") -> None:
        self.llm = llm
        self.instruction = bp.param(instruction)
        self.demos = bp.param([])

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, demos=self.demos, llm=self.llm, temperature=0,
                           max_tokens=16)


def sums(first: int, count: int) -> list[tuple[str, int]]:
    return [(f"What is {a} plus {b}?", a + b) for a in range(first, first + count) for b in (1, 2)]


def by_angle(messages):
    """A teacher whose answer depends only on the angle it is asked from: the format angle finds the fix."""
    prompt = messages[-1]["content"]
    value = GOOD if "the answer format." in prompt else "Add them." if "look at it from" in prompt else "Add carefully."
    return json.dumps({"diagnosis": "the replies are sentences", "instruction": value})


def unlabeled(program, llm):
    """The default recipe without labeled worked examples, for tests of the rewrite path: with them, these
    sums are solved by the first step's targets alone and no rewrite is ever needed."""
    from backprose.optimizers import Recipe
    from backprose.train import Pareto

    return {"optimizer": Recipe(program.parameters(), llm, labeled=False), "strategy": Pareto()}
