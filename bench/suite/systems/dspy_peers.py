"""DSPy's GEPA, MIPROv2 and BootstrapFewShot as peers, each training exactly the suite's program.

Fairness: DSPy optimizes the one program every system trains. A small adapter formats each DSPy call as
exactly `program.messages(instruction, question, demos)` (the signature's instructions, the predictor's demos
as earlier turns, the question) and reads the whole reply as the answer, and the LMs send the suite's request
body (model, messages, temperature, max_tokens) with DSPy's own caches off, so the counting proxy sees and
caches the same requests as for every other system. Each optimizer runs as DSPy's docs recommend, at its
documented light budget; each logs that budget and the calls it made beside the suite's `Env` budgets, so a
peer that spends more or less than the suite's budget says so. DSPy is imported only when a system runs.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backprose.train.guides import Judgement, as_guide
from bench.suite import program
from bench.suite.program import Final
from bench.suite.systems.base import Env, System, register

log = logging.getLogger("backprose")

THREADS = 4  # concurrent program calls while DSPy evaluates, as the suite's own scoring runs them
OPTIMIZER_MAX_TOKENS = 512  # room for a rewritten instruction or a data summary from the optimizer model
QUESTION, ANSWER = "question", "answer"
SUITE_ID = "dspy_suite_id"  # DSPy keeps fields named dspy_* out of every prompt; the metric finds the example by it


def import_dspy() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm must not fetch its price list
    import dspy

    return dspy


def turns(demos: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    """A predictor's demos as (question, answer) turns. A demo without an answer (HumanEval keeps no reference
    solution) is left out, as DSPy's own adapters leave out a demo with no output field."""
    out = []
    for demo in demos:
        question, answer = demo.get(QUESTION), demo.get(ANSWER)
        if question is not None and answer is not None:
            out.append((str(question), str(answer)))
    return tuple(out)


@functools.cache
def suite_adapter() -> type:
    """The adapter class (built on first use, since it subclasses dspy.Adapter)."""
    dspy = import_dspy()

    class SuiteAdapter(dspy.Adapter):
        """Formats a call as exactly the suite program's messages; the whole reply is the answer."""

        def format(self, signature: Any, demos: list[Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
            return program.messages(signature.instructions, str(inputs[QUESTION]), turns(demos))

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            return {ANSWER: completion}

        def _call_postprocess(self, processed_signature: Any, original_signature: Any, outputs: list[Any],
                              lm: Any, lm_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
            # An empty reply is an empty answer that the guide scores, as the suite's scoring does; DSPy's base
            # adapter would raise a parse error instead.
            texts = (o.get("text") if isinstance(o, dict) else o for o in outputs)
            return [self.parse(original_signature, text or "") for text in texts]

    return SuiteAdapter


@functools.cache
def suite_program() -> type:
    """The suite's program as a DSPy module: one predictor, question -> answer, called through SuiteAdapter."""
    dspy = import_dspy()

    class SuiteProgram(dspy.Module):
        def __init__(self, instruction: str) -> None:
            super().__init__()
            self.predict = dspy.Predict(dspy.Signature(f"{QUESTION} -> {ANSWER}", instruction))

        def forward(self, question: str) -> Any:
            with dspy.context(adapter=suite_adapter()()):
                return self.predict(question=question)

    return SuiteProgram


def final_of(compiled: Any) -> Final:
    """What DSPy learned, in the form every system's result is scored in."""
    (_, predictor), = compiled.named_predictors()
    return Final(predictor.signature.instructions, turns(predictor.demos))


@functools.cache
def _counter_class() -> type:
    import_dspy()
    from dspy.utils.callback import BaseCallback

    class CallCounter(BaseCallback):
        """Counts the calls of one LM; copies of an LM (DSPy makes them for rollouts) share its callbacks."""

        def __init__(self) -> None:
            self.calls = 0
            self._lock = threading.Lock()

        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            with self._lock:
                self.calls += 1

    return CallCounter


def language_models(env: Env, task: str, counters: tuple[Any, Any] = (None, None)) -> tuple[Any, Any]:
    """The program LM and the optimizer LM: the suite's endpoint and temperatures, no DSPy cache; `counters`
    (one callback each) count their calls.

    The litellm engine sends `max_tokens` (DSPy's default engine sends `max_completion_tokens`), so a program
    call's body equals `program.request(...)` and the proxy can share it with other systems' identical calls.
    """
    dspy = import_dspy()
    common = {"api_base": env.base_url, "api_key": env.api_key, "cache": False, "engine": "litellm"}
    program_lm = dspy.LM(f"openai/{env.program_model}", temperature=env.program_temperature,
                         max_tokens=program.max_tokens(task), callbacks=[c for c in counters[:1] if c], **common)
    optimizer_lm = dspy.LM(f"openai/{env.optimizer_model}", temperature=env.optimizer_temperature,
                           max_tokens=OPTIMIZER_MAX_TOKENS, callbacks=[c for c in counters[1:] if c], **common)
    return program_lm, optimizer_lm


def as_dspy(examples: Iterable[Any]) -> list[Any]:
    """Suite examples as dspy.Examples; a target that is no reply (HumanEval's tests) is not shown as one."""
    dspy = import_dspy()
    out = []
    for ex in examples:
        fields = {QUESTION: str(ex.input), SUITE_ID: ex.id}
        if isinstance(ex.target, str):
            fields[ANSWER] = ex.target
        out.append(dspy.Example(**fields).with_inputs(QUESTION))
    return out


class Judge:
    """The task's guide on a DSPy prediction, judged against the suite's own example (train or validation)."""

    def __init__(self, task: Any) -> None:
        self.guide = as_guide(task.guide)
        self.examples = {ex.id: ex for part in (task.train, task.validation) for ex in part}

    def __call__(self, gold: Any, pred: Any) -> Judgement:
        return self.guide(getattr(pred, ANSWER, None) or "", self.examples[gold[SUITE_ID]])

    def score(self, gold: Any, pred: Any, trace: Any = None) -> float | bool:
        """DSPy's metric convention: a score when evaluating; while bootstrapping (a trace is given) whether
        the run earned full marks, so only right runs become demos."""
        score = self(gold, pred).score
        return score if trace is None else score >= 1.0

    def feedback(self, gold: Any, pred: Any, trace: Any = None, pred_name: str | None = None,
                 pred_trace: Any = None) -> Any:
        """GEPA's metric: the guide's score and its feedback text, as GEPA's docs recommend."""
        judgement = self(gold, pred)
        return import_dspy().Prediction(score=judgement.score, feedback=judgement.feedback)


@dataclass(frozen=True)
class Budget:
    """A peer's documented budget for our split sizes: program calls (metric calls) and optimizer calls;
    None where DSPy sets no bound."""

    program: int
    optimizer: int | None
    how: str


class DSPyPeer:
    """Shared by the three peers: data, LMs, budget lines; a subclass says how DSPy compiles."""

    name = ""

    def budget(self, train: int, validation: int) -> Budget:
        raise NotImplementedError

    def compile(self, dspy: Any, student: Any, train: list[Any], validation: list[Any], judge: Judge,
                lms: tuple[Any, Any], env: Env, seed: int) -> Any:
        raise NotImplementedError

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        dspy = import_dspy()
        counters = (_counter_class()(), _counter_class()())
        lms = language_models(env, task.name, counters)
        train, validation = as_dspy(task.train), as_dspy(task.validation)
        budget = self.budget(len(train), len(validation))
        self._log_budget(budget, len(train), len(validation), env)
        student = suite_program()(task.instruction)
        with dspy.context(lm=lms[0]):
            compiled = self.compile(dspy, student, train, validation, Judge(task), lms, env, seed)
        used = (counters[0].calls, counters[1].calls)
        self._log_used(used, env)
        final = final_of(compiled)
        if env.work_dir is not None:
            env.work_dir.mkdir(parents=True, exist_ok=True)
            record = {"system": self.name, "light_budget": {"program_calls": budget.program,
                                                            "optimizer_calls": budget.optimizer, "how": budget.how},
                      "used": {"program_calls": used[0], "optimizer_calls": used[1]},
                      "suite_budget": {"program_calls": env.program_calls, "optimizer_calls": env.optimizer_calls},
                      "final": final.as_dict()}
            (env.work_dir / "dspy_budget.json").write_text(json.dumps(record, indent=1))
        return final

    def _log_budget(self, budget: Budget, train: int, validation: int, env: Env) -> None:
        optimizer = "unbounded" if budget.optimizer is None else f"about {budget.optimizer}"
        log.info("%s: DSPy's light budget for %d train / %d validation examples is %d program calls (%s) and %s "
                 "optimizer calls; the suite's budgets are %d and %d", self.name, train, validation, budget.program,
                 budget.how, optimizer, env.program_calls, env.optimizer_calls)
        for kind, light, suite in (("program", budget.program, env.program_calls),
                                   ("optimizer", budget.optimizer, env.optimizer_calls)):
            if light is None:
                log.warning("%s: DSPy sets no bound on %s calls; the suite's budget is %d", self.name, kind, suite)
            elif light < suite:
                log.info("%s: DSPy's light budget of %d %s calls is below the suite's %d", self.name, light, kind,
                         suite)
            elif light > suite:
                log.warning("%s: DSPy's light budget of %d %s calls is above the suite's %d; %s", self.name, light,
                            kind, suite, self.runs_at(kind))

    def runs_at(self, kind: str) -> str:
        """What this row spends of `kind` calls where DSPy's light budget is above the suite's."""
        return "it runs at DSPy's documented budget"

    def _log_used(self, used: tuple[int, int], env: Env) -> None:
        log.info("%s used %d program calls and %d optimizer calls (suite budgets %d and %d)", self.name, used[0],
                 used[1], env.program_calls, env.optimizer_calls)
        for kind, spent, allowed in (("program", used[0], env.program_calls),
                                     ("optimizer", used[1], env.optimizer_calls)):
            if spent > allowed:
                log.warning("%s exceeded the suite's %s-call budget: %d calls, budget %d", self.name, kind, spent,
                            allowed)


class GEPAPeer(DSPyPeer):
    """dspy.GEPA at auto="light", or at the suite's program-call budget where that is larger."""

    name = "gepa"

    def budget(self, train: int, validation: int) -> Budget:
        from dspy.teleprompt.gepa.gepa import AUTO_RUN_SETTINGS, GEPA

        # auto_budget is a plain formula of its arguments; it reads nothing from the instance.
        calls = GEPA.auto_budget(None, num_preds=1, num_candidates=AUTO_RUN_SETTINGS["light"]["n"],
                                 valset_size=validation)
        return Budget(calls, None, 'metric calls, auto="light"; one reflection per iteration')

    @staticmethod
    def spend(light: int, env: Env) -> dict[str, Any]:
        """GEPA's budget argument: its documented light budget, or exactly the suite's where that is larger."""
        if env.program_calls <= light:
            return {"auto": "light"}
        log.info("gepa: running at the suite's %d metric calls instead of DSPy's light %d", env.program_calls, light)
        return {"max_metric_calls": env.program_calls}

    def compile(self, dspy: Any, student: Any, train: list[Any], validation: list[Any], judge: Judge,
                lms: tuple[Any, Any], env: Env, seed: int) -> Any:
        spend = self.spend(self.budget(len(train), len(validation)).program, env)
        gepa = dspy.GEPA(metric=judge.feedback, reflection_lm=lms[1], num_threads=THREADS, seed=seed,
                         track_stats=True, **spend)
        compiled = gepa.compile(student, trainset=train, valset=validation)
        result = compiled.detailed_results
        log.info("gepa: %d metric calls, %d candidates, best validation score %.3f", result.total_metric_calls or 0,
                 len(result.candidates), max(result.val_aggregate_scores))
        return compiled


class GEPAAtSuiteBudget(GEPAPeer):
    """dspy.GEPA at exactly the suite's program-call budget (`max_metric_calls`), below its documented light
    budget: the row a run too short for GEPA's light budget can still compare at equal program calls. GEPA has
    no cap on reflections, so its optimizer calls are what it made (the table marks a run past the budget)."""

    name = "gepa_suite_budget"

    def runs_at(self, kind: str) -> str:
        return "this row runs at the suite's budget instead" if kind == "program" else super().runs_at(kind)

    @staticmethod
    def spend(light: int, env: Env) -> dict[str, Any]:
        return {"max_metric_calls": env.program_calls}  # below light, `_log_budget` has said so


class MIPROv2Peer(DSPyPeer):
    """dspy.MIPROv2 at auto="light": the optimizer model proposes, the program model runs the program.

    Its instruction proposals are asked at the suite's optimizer temperature; its data summarizer asks at 1.0
    (fixed inside DSPy), which the suite's proxy pins like every other request."""

    name = "miprov2"

    def budget(self, train: int, validation: int) -> Budget:
        from dspy.teleprompt.mipro_optimizer_v2 import AUTO_RUN_SETTINGS, MIN_MINIBATCH_SIZE

        light = AUTO_RUN_SETTINGS["light"]
        n, val = light["n"], min(validation, light["val_size"])
        trials = int(max(2 * 2 * math.log2(n), 1.5 * n))  # one predictor: instruction and demos
        bootstraps = n - 2  # of its n demo sets, the zero-shot and labels-only ones need no program call
        if val > MIN_MINIBATCH_SIZE:
            evaluation = 35 * trials + val * (trials // 5 + 2)
        else:
            evaluation = val * (trials + 1)
        return Budget(evaluation + bootstraps * train, 10 + n // 2 + 2,
                      f"{trials} trials on {val} validation examples after the default program, and at most "
                      f"{bootstraps} bootstrap passes over {train} train examples")

    def compile(self, dspy: Any, student: Any, train: list[Any], validation: list[Any], judge: Judge,
                lms: tuple[Any, Any], env: Env, seed: int) -> Any:
        # init_temperature: the suite pins the optimizer temperature for every system (MIPROv2 would send 1.0).
        mipro = dspy.MIPROv2(metric=judge.score, prompt_model=lms[1], task_model=lms[0], auto="light",
                             num_threads=THREADS, seed=seed, init_temperature=env.optimizer_temperature)
        return mipro.compile(student, trainset=train, valset=validation)


class BootstrapFewShotPeer(DSPyPeer):
    """dspy.BootstrapFewShot with its defaults; the teacher is the student itself, on the program model.

    It takes no seed (it samples its labeled demos with a fixed generator), so seeds differ only by their split.
    It never looks at validation: it keeps right runs and labels from train."""

    name = "bootstrap_fewshot"

    def budget(self, train: int, validation: int) -> Budget:
        return Budget(train, 0, "one run per train example until 4 earn full marks; max_rounds=1")

    def compile(self, dspy: Any, student: Any, train: list[Any], validation: list[Any], judge: Judge,
                lms: tuple[Any, Any], env: Env, seed: int) -> Any:
        return dspy.BootstrapFewShot(metric=judge.score).compile(student, trainset=train)


def _factory(peer: type[DSPyPeer], *needs: str) -> System:
    import_dspy()  # a missing DSPy (or optuna, for MIPROv2) shows here, when the suite picks the system
    for module in needs:
        __import__(module)
    return peer()


register("gepa")(lambda: _factory(GEPAPeer))
register("gepa_suite_budget")(lambda: _factory(GEPAAtSuiteBudget))
register("miprov2")(lambda: _factory(MIPROv2Peer, "optuna"))
register("bootstrap_fewshot")(lambda: _factory(BootstrapFewShotPeer))
