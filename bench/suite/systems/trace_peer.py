"""trace-opt's OptoPrime over the instruction (trace-opt 0.1.3.8, import `opto`) as the suite's `trace_opt` system.

As in Trace's own port of TextGrad's prompt-optimization workflow (examples/textgrad_examples in the Trace
repository), since 0.1.3.8 has no trainer of its own: the instruction is `trace.node(..., trainable=True)`;
each step runs a minibatch of 3 train examples through a `@bundle` that sends exactly
`program.messages(instruction, question)` to the program model, scores each response with a bundled call
of the task's guide, joins the scores with a bundled `concat`, and gives that one node one combined
feedback (each response's score and the guide's words, by index); then one `OptoPrime.step` on the
optimizer model. Validation selection as in that port and in TextGrad's recipe: the new instruction is
kept only if validation accuracy does not drop, otherwise the previous one comes back. 3 epochs of at most
4 steps, each epoch over a fresh shuffle of train drawn from `seed`.

OptoPrime's LLM sends no temperature and 4096 max tokens; here it goes through `Calls`, which sets the
pinned optimizer temperature and the shared cap. OptoPrime first asks for a JSON object and, if the server
refuses that, asks again without it: two optimizer calls, both counted (and logged).

Budget to steps: the first validation costs len(validation) program calls. A step with a minibatch of b
costs b program calls, one optimizer call (two when the JSON request is refused) and, when the instruction
changed, len(validation) program calls. A step runs only if the program budget holds it whole and an
optimizer call is left; its minibatch shrinks to fit, never below 1. Trace's graph is process-global, so
one trace_opt fit runs at a time per process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

from backprose.train.guides import as_guide
from bench.suite.program import Final
from bench.suite.systems.base import Env, register
from bench.suite.systems.budget import OPTIMIZER_MAX_TOKENS, BudgetSpent, Calls
from bench.suite.systems.minibatch import TUTORIAL, Instruction, Schedule, train

log = logging.getLogger("backprose")

CONSTRAINT = ("structured system prompt to a somewhat capable language model that specifies the behavior and "
              "strategies for the task")


def import_opto() -> tuple[Any, Any, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # opto imports litellm; there is no network
    from opto import trace
    from opto.optimizers import OptoPrime
    from opto.utils.llm import AbstractModel

    return trace, OptoPrime, AbstractModel


def optimizer_llm(abstract_model: type, calls: Calls) -> Any:
    """OptoPrime's `llm`: its keyword arguments become one counted optimizer request."""

    def create(**config: Any) -> Any:
        try:
            return calls.optimizer(**config)
        except BudgetSpent:
            raise
        except Exception as exc:
            if "response_format" in config:  # OptoPrime catches this and asks again without the JSON format
                log.warning("trace_opt: the JSON-format request failed (%s: %s); OptoPrime asks again without it",
                            type(exc).__name__, exc)
            raise

    return abstract_model(lambda: create)


class TraceOptPeer:
    name = "trace_opt"

    def __init__(self, schedule: Schedule = TUTORIAL) -> None:
        self.schedule = schedule

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        trace, optoprime, abstract_model = import_opto()
        calls = Calls(env, task.name)
        judge = as_guide(task.guide)
        parameter = trace.node(task.instruction, trainable=True, name="instruction", constraint=CONSTRAINT)
        optimizer = optoprime([parameter], llm=optimizer_llm(abstract_model, calls),
                              max_tokens=OPTIMIZER_MAX_TOKENS, prompt_symbols={"variables": "#Parameters"})

        @trace.bundle(catch_execution_error=False)
        def query(system_prompt, question):
            """Query the language model with the system prompt and the input query."""
            return calls.program(system_prompt, question)

        @trace.bundle(catch_execution_error=False)
        def concat(*items):
            """Concatenate the items into a single string."""
            return "".join(f"[{i}]: {item}\n\n" for i, item in enumerate(items))

        def propose(batch: list[Any]) -> None:
            optimizer.zero_feedback()
            scores, verdicts = [], []
            for example in batch:
                response = query(parameter, str(example.input))
                scores.append(grader(trace, judge, example, verdicts)(response))
            notes = [f"[{i}] score {v.score:g}: {v.feedback}".strip() for i, v in enumerate(verdicts)]
            feedback = ("The grader's verdict on each response, by index:\n" + "\n".join(notes)
                        + "\nImprove correctness.")
            optimizer.backward(concat(*scores), feedback)
            optimizer.step(verbose=False)

        instruction = Instruction(lambda: str(parameter.data), parameter._set)
        return train(self.name, task, calls, seed, self.schedule, instruction, propose, lambda b: 1)


def grader(trace: Any, judge: Any, example: Any, verdicts: list[Any]) -> Any:
    """A bundled call of the task's guide on one example's response; its judgement is kept in `verdicts`."""

    @trace.bundle(catch_execution_error=False)
    def grade(response):
        """The task's grader: the response's score, 1 when correct."""
        judgement = judge(response, example)
        verdicts.append(judgement)
        return judgement.score

    return grade


@register("trace_opt")
def make() -> TraceOptPeer:
    if importlib.util.find_spec("opto") is None:
        raise ImportError("trace-opt is not installed; `pip install trace-opt==0.1.3.8` adds the trace_opt system")
    return TraceOptPeer()
