"""TextGrad's prompt-optimization recipe (textgrad 0.1.8) as the suite's `textgrad` system.

As in TextGrad's prompt-optimization tutorial: the instruction is a `tg.Variable` with `requires_grad`; the
program is `tg.BlackboxLLM` on the program model with that Variable as its system prompt; each step runs a
minibatch of 3 train examples, judges every response with a `StringBasedFunction` (here the task's guide,
whose score and feedback come back as text), sums the losses with `tg.sum`, backpropagates with the
optimizer model as backward engine and lets `tg.TextualGradientDescent` on the optimizer model rewrite
the instruction. Then validation revert: the new instruction is kept only if validation accuracy does not
drop, otherwise the previous one comes back. 3 epochs of at most 4 steps, each epoch over a fresh shuffle
of train drawn from `seed`. The evaluation sees the response only: the target would hand the tests of a
HumanEval problem to the optimizer, and the guide's feedback is the teacher.

Budget to steps: the first validation costs len(validation) program calls. A step with a minibatch of b
costs b program calls, 2b + 1 optimizer calls (a gradient through the evaluation and one through the
program call per example, then the update) and, when the instruction changed, len(validation) program
calls. A step runs only if both budgets hold it whole; its minibatch shrinks to fit, never below 1.
Textgrad's engines are replaced by one small `EngineLM` subclass that sends through `Calls`: exactly
`program.messages(instruction, question)` on the program model, each optimizer request at the pinned
temperature, no disk cache (a cached reply would make every seed's proposals the same).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from backprose.train.guides import as_guide
from bench.suite.program import Final
from bench.suite.systems.base import Env, register
from bench.suite.systems.budget import Calls
from bench.suite.systems.minibatch import TUTORIAL, Instruction, Schedule, train

log = logging.getLogger("backprose")

PROMPT_ROLE = ("structured system prompt to a somewhat capable language model that specifies the behavior and "
               "strategies for the task")
EVALUATION_PURPOSE = "The task's grader: it scores the response (1 is correct) and says what is wrong with it."


def import_textgrad(work_dir: Path | None) -> Any:
    """Import textgrad, whose import writes a log file into TEXTGRAD_LOG_DIR (default ./logs)."""
    if "textgrad" not in sys.modules and "TEXTGRAD_LOG_DIR" not in os.environ:
        folder = Path(work_dir) if work_dir else Path(tempfile.gettempdir())
        os.environ["TEXTGRAD_LOG_DIR"] = str(folder / "textgrad-logs")
    import textgrad

    return textgrad


@functools.cache
def engine_type() -> type:
    from textgrad.engine import EngineLM

    class SuiteEngine(EngineLM):
        """A textgrad engine whose every request goes through the suite's counted `Calls`."""

        def __init__(self, calls: Calls, role: str) -> None:
            self.calls, self.role = calls, role
            self.model_string = calls.env.program_model if role == "program" else calls.env.optimizer_model

        def generate(self, content: Any, system_prompt: str | None = None, **kwargs: Any) -> str:
            if self.role == "program":
                return self.calls.program(system_prompt or "", str(content))
            messages = [{"role": "system", "content": system_prompt or self.system_prompt},
                        {"role": "user", "content": str(content)}]
            return self.calls.optimizer(messages).choices[0].message.content or ""

        def __call__(self, content: Any, **kwargs: Any) -> str:
            return self.generate(content, **kwargs)

    return SuiteEngine


class TextGradPeer:
    name = "textgrad"

    def __init__(self, schedule: Schedule = TUTORIAL) -> None:
        self.schedule = schedule

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        tg = import_textgrad(env.work_dir)
        calls = Calls(env, task.name)
        forward, backward = engine_type()(calls, "program"), engine_type()(calls, "optimizer")
        system_prompt = tg.Variable(task.instruction, requires_grad=True, role_description=PROMPT_ROLE)
        model = tg.BlackboxLLM(forward, system_prompt)
        optimizer = tg.TextualGradientDescent(engine=backward, parameters=[system_prompt])

        def propose(batch: list[Any]) -> None:
            optimizer.zero_grad()
            losses = []
            for example in batch:
                question = tg.Variable(str(example.input), requires_grad=False,
                                       role_description="query to the language model")
                evaluation = tg.autograd.StringBasedFunction(verdict(task.guide, example), EVALUATION_PURPOSE)
                losses.append(evaluation(inputs={"prediction": model(question)}))
            tg.sum(losses).backward(backward)
            try:
                optimizer.step()
            except IndexError:  # the reply lacked the <IMPROVED_VARIABLE> tags textgrad parses
                log.info("textgrad: the optimizer's reply held no improved instruction")

        instruction = Instruction(lambda: system_prompt.value, system_prompt.set_value)
        return train(self.name, task, calls, seed, self.schedule, instruction, propose, lambda b: 2 * b + 1)


def verdict(guide: Any, example: Any) -> Any:
    """The string-based function for one example: the guide's score and feedback on the response, as text."""
    judge = as_guide(guide)

    def grade(prediction: Any) -> str:
        judgement = judge(prediction.value, example)
        return f"Score: {judgement.score:g}. {judgement.feedback}".strip()

    return grade


@register("textgrad")
def make() -> TextGradPeer:
    if importlib.util.find_spec("textgrad") is None:
        raise ImportError("textgrad is not installed; `pip install textgrad==0.1.8` adds the textgrad system")
    return TextGradPeer()
