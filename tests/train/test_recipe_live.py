"""The default recipe end to end on the embedded model: `bp.train` with no optimizer, a few calls."""

from __future__ import annotations

import pytest

import backprose as bp
from backprose.optimizers import Recipe
from backprose.train import Budget, Trainer

pytestmark = pytest.mark.live

PROBLEMS = [("2 plus 3", 5), ("4 plus 4", 8), ("10 plus 1", 11), ("7 minus 2", 5), ("3 times 3", 9), ("6 plus 6", 12)]
QUESTIONS = [(f"What is {p}?", target) for p, target in PROBLEMS]


class Solver(bp.Module):
    def __init__(self, llm):
        self.llm = llm
        self.instruction = bp.param("Solve the problem.")
        self.demos = bp.param([])

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, demos=self.demos, llm=self.llm, temperature=0,
                           max_tokens=12)


def test_bp_train_with_no_optimizer_runs_the_recipe_on_the_real_model(local_llm):
    program = Solver(local_llm)
    trainer = Trainer(program, QUESTIONS[:4], QUESTIONS[4:], "numeric", optimizer_llm=local_llm, steps=1,
                      batch_size=2, budget=Budget(calls=16), seed=0)  # room for one whole step: a race of up to
    # three candidates (worked examples, a rewrite with its retries, both) and their validation
    assert isinstance(trainer.optimizer, Recipe)
    result = trainer.fit()
    assert result.spent["calls"] <= 16 and len(result.history) == 1
    [step] = result.history  # the recipe was asked, unless the minibatch was already solved
    assert step["proposals"] >= 1 or "full marks" in step["reason"], step
    assert result.final_val >= result.initial_val
    for demo in program.demos.value:  # whatever was kept is right: a correct run, or a target as the reply
        asked = next(target for question, target in QUESTIONS if question == demo["input"])
        assert str(asked) in demo["reply"]
