"""`backprose`: `bp.train`'s default recipe on the suite's program, written as a `bp.Module`.

The module sends exactly `program.request` (same messages, temperature and max_tokens), so its calls and
the suite's scoring calls are the same requests and the proxy's cache serves both. Budgets are held per
model: the program client and the optimizer client each refuse the request past their own share, which
ends training the way any spent budget does (the step in progress is dropped).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from typing import Any

import backprose as bp
from backprose.agent import check_demos
from backprose.errors import CallBudgetExhausted
from backprose.llm.limits import CallLimit
from backprose.train.budget import Budget
from bench.suite.program import PROGRAM_TEMPERATURE, Final, max_tokens
from bench.suite.systems.base import Env, register


class CappedOpenAI(bp.llm.OpenAI):
    """An OpenAI client that refuses its request past `calls` with `CallBudgetExhausted` (a trainer stops
    cleanly on it), so one model's share of a budget cannot be spent on the other model."""

    def __init__(self, *args: Any, calls: int, **options: Any) -> None:
        super().__init__(*args, **options)
        self.cap = CallLimit(calls)
        self._cap_lock = threading.Lock()

    async def _acall(self, request: Any) -> Any:  # the sync path runs this too, on the client's loop
        with self._cap_lock:
            if self.cap.remaining <= 0:
                raise CallBudgetExhausted(self.cap.limit)
            self.cap.count()
        return await super()._acall(request)


class Program(bp.Module):
    """`program.py`'s program: one call with a trainable instruction and trainable worked examples."""

    def __init__(self, instruction: str, llm: Any, max_tokens: int, demos: Sequence[tuple[str, str]] = ()) -> None:
        self.instruction = bp.param(instruction, name="instruction",
                                    description="the system prompt of the one model call that answers each input")
        self.demos = bp.param(check_demos([{"input": i, "reply": r} for i, r in demos]), name="demos",
                              projection=check_demos, description="worked examples (an input and a good reply) "
                              "shown as earlier turns before each input")
        self.llm = llm
        self.max_tokens = max_tokens

    def __call__(self, question: Any) -> bp.Node:
        return bp.call_llm(question, system=self.instruction, demos=self.demos, llm=self.llm,
                           temperature=PROGRAM_TEMPERATURE, max_tokens=self.max_tokens)

    def final(self) -> Final:
        return Final(str(self.instruction.value), tuple((d["input"], d["reply"]) for d in self.demos.value))


def train(module: Program, task: Any, *, optimizer_llm: Any, budget: Budget, steps: int, seed: int,
          run_dir: Any = None, optimizer: Any = None) -> Any:
    """`bp.train` as the suite runs it: with no `optimizer`, its default recipe on `optimizer_llm`."""
    extra = {"optimizer_llm": optimizer_llm} if optimizer is None else {}
    return bp.train(module, task.train, task.validation, task.guide, optimizer, budget=budget, steps=steps,
                    seed=seed, run_dir=run_dir, concurrency=4, **extra)


STEPS = 50  # more than any budget here pays for: the call budgets end the run (a worked-examples step asks
# the optimizer model nothing)


@register("backprose")
class Backprose:
    """`bp.train` on train, each change gated on validation, within the Env's two call budgets."""

    name = "backprose"

    def __init__(self, optimizer: Any = None) -> None:
        self.optimizer = optimizer  # a factory f(module, optimizer_llm); None: the default recipe

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        common = {"base_url": env.base_url, "api_key": env.api_key, "timeout": 1800.0}
        program_llm = CappedOpenAI(env.program_model, calls=env.program_calls, max_concurrency=4, **common)
        optimizer_llm = CappedOpenAI(env.optimizer_model, calls=env.optimizer_calls, max_concurrency=1, **common)
        module = Program(task.instruction, program_llm, max_tokens(task.name))
        run_dir = None
        if env.work_dir is not None:
            run_dir = env.work_dir / "train"
            shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished earlier attempt at this cell
        try:
            train(module, task, optimizer_llm=optimizer_llm, seed=seed, run_dir=run_dir,
                  budget=Budget(calls=env.program_calls + env.optimizer_calls),
                  steps=STEPS,
                  optimizer=self.optimizer(module, optimizer_llm) if self.optimizer else None)
        finally:
            program_llm.close()
            optimizer_llm.close()
        return module.final()
