"""`Trainer` and `train`: minibatch rollouts, backward, a search step, then validation-gated acceptance.

A proposal is adopted only if it (1) scores higher than the current program on the minibatch it was made
from and (2) does not lower the validation score; otherwise the program stays as it was. The validation
score of the current program therefore never goes down, and a run never ends worse than it started.
A minibatch example whose answer the proposal's new worked examples show is no test of it: it is not run,
and a tie on the rest goes to validation (see `strategies.base.beats`).
A candidate first runs on the minibatch examples the current program misses; if it fixes none of them
it cannot win, and the rest of the minibatch is not run. For the same reason a minibatch the current
program already solves in full gets no proposal (and when its scores are known, no rollout either).
No step starts when the calls left in the budget cannot pay for validating a change: it could only
spend them. After every step the run folder gets a checkpoint, so `fit(resume=True)` continues a killed
run exactly; with the LLM cache the replayed part of the step costs no model call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprose.data.dataset import Dataset, Example
from backprose.errors import CallBudgetExhausted, CheckpointError, InvalidOption
from backprose.llm.accounting import track_usage
from backprose.llm.limits import limit_calls
from backprose.module import atomic_write_json
from backprose.train.budget import Budget, CallLedger, Spent
from backprose.train.checkpoint import CALLS, CHECKPOINT, JOURNAL, Journal, load_checkpoint, save_checkpoint, state_key
from backprose.train.events import EVENTS, EventLog
from backprose.train.guides import as_guide
from backprose.train.moves import Moves
from backprose.train.progress import Progress
from backprose.train.results import SplitResults, collect, evaluate_split, save
from backprose.train.rollout import Rollout, default_workers
from backprose.train.strategies import make_strategy
from backprose.train.strategies.base import beats, mean
from backprose.train.strategies.pareto import Pareto

log = logging.getLogger("backprose")


@dataclass
class TrainResult:
    """What `fit` returns: scores before and after, the per-step history, spending and the stop reason."""

    initial_val: float
    final_val: float
    history: list[dict[str, Any]]
    spent: dict[str, Any]
    stopped: str
    run_dir: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)
    validation: SplitResults | None = None  # per-example results of the starting and the final program

    @property
    def improved(self) -> bool:
        return self.final_val > self.initial_val


class Trainer:
    """Optimize `module` on `train`, gating each change on `val` (defaults to `train`).

    `optimizer` is an Optimizer over the module's parameters, or a factory `f(parameters) -> Optimizer`;
    without one the default recipe (`backprose.optimizers.Recipe`, searched with a `Pareto` pool) runs on
    `optimizer_llm` (default: the module's `llm` attribute, else the configured default model).
    `strategy` is a name in `backprose.train.strategies.STRATEGIES` or an instance. `executor` (any
    `concurrent.futures.Executor`) scores examples; traced rollouts always use this process's threads.
    """

    def __init__(self, module: Any, train: Sequence[Any], val: Sequence[Any] | None = None,
                 guide: Callable[..., Any] | str = "exact_match", optimizer: Any = None, *,
                 strategy: Any = None, batch_size: int = 4, steps: int = 10, budget: Budget | None = None,
                 concurrency: int | None = None, executor: Executor | None = None,
                 run_dir: str | Path | None = None, seed: int = 0, progress: bool = False,
                 llm: Any = None, optimizer_llm: Any = None, config: dict[str, Any] | None = None) -> None:
        self.module = module
        self.train = train if isinstance(train, Dataset) else Dataset(train, "train")
        self.val = self.train if val is None else (val if isinstance(val, Dataset) else Dataset(val, "val"))
        self.guide = as_guide(guide)
        if optimizer is None:
            optimizer, strategy = default_recipe(module, optimizer_llm), Pareto() if strategy is None else strategy
        elif optimizer_llm is not None:
            raise InvalidOption("optimizer_llm", type(optimizer_llm).__name__, "it is the model of the default recipe, "
                                "and an optimizer was given", "give that optimizer its model (llm=) instead")
        self.optimizer = optimizer(module.parameters()) if callable(optimizer) and not hasattr(
            optimizer, "propose") else optimizer
        self.strategy = make_strategy(strategy)
        _check_count("batch_size", batch_size, 1, "take at least one example per step")
        _check_count("steps", steps, 0, "give the number of steps to run (0 only scores the program)")
        if concurrency is not None:
            _check_count("concurrency", concurrency, 1, "run at least one example at a time, or leave it unset")
        self.batch_size = batch_size
        self.budget = budget or Budget()
        if self.budget.steps is None:
            self.budget.steps = steps
        self.workers = default_workers(llm or getattr(self.optimizer, "_llm", None), concurrency)
        self.executor = executor
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.seed = seed
        self.progress = progress
        self.config = dict(config or {})
        self.events = EventLog(self.run_dir / EVENTS if self.run_dir else None)
        self.journal = Journal(self.run_dir / JOURNAL if self.run_dir else None)
        self.graph_outputs: list[Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.start_state: dict[str, Any] | None = None  # the program before training, for before/after results
        self._references: dict[str, str | None] = {}  # example id -> a reply proven right, see `reference`
        self.validation_calls: float | None = None  # model calls one validation run costs, once measured

    def reference(self, example: Example) -> str | None:
        """The example's target as text when the guide gives it full marks as an output, else None (a target
        that is a test suite or a rubric is no reply). Judged once per example, at the guide's own cost."""
        if example.id not in self._references:
            ref = None
            if isinstance(example.target, str | int | float) and not isinstance(example.target, bool):
                text = str(example.target)
                try:
                    ref = text if text.strip() and self.guide(text, example).score >= 1 else None
                except Exception as exc:  # a guide that cannot judge a bare target: no reference, said once
                    log.info("no reference reply for example %s: the guide raised %s", example.id, exc)
            self._references[example.id] = ref
        return self._references[example.id]

    def spare_references(self, batch: Sequence[Example]) -> Iterator[tuple[Any, str]]:
        """(input, reference reply) of the train examples outside `batch`, in an order fixed by the seed, each
        judged only when drawn: worked examples that need no run (see `Demos.offer`)."""
        inside = {ex.id for ex in batch}
        rest = sorted((ex for ex in self.train if ex.id not in inside),
                      key=lambda ex: hashlib.sha256(f"{self.seed}:{ex.id}".encode()).digest())
        for ex in rest:
            ref = self.reference(ex)
            if ref is not None:
                yield ex.input, ref

    def feedback_text(self, rollout: Rollout) -> str:
        """The text sent backward from one judged output (its example's input goes beside it, see `Moves`)."""
        return f"Score: {rollout.score:g}. {rollout.feedback}"

    # --- the loop -----------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Run the loop; `resume=True` continues the run saved in `run_dir`, killed at any moment."""
        rng = random.Random(self.seed)
        spent, start_step, stale, resumed = Spent(), 0, 0, False
        if resume and self.run_dir is not None and (self.run_dir / CHECKPOINT).exists():
            ck = load_checkpoint(self.run_dir)
            self._restore(ck, rng)
            spent, start_step, stale, resumed = Spent(**ck["spent"]), ck["step"], ck["stale"], True
            current, initial_val = ck["current"], ck["initial_val"]
            self.start_state = ck.get("start", current if initial_val is None else None)  # older runs kept none
            self.events.truncate(ck["events_offset"])
        else:
            current, initial_val = self.module.state_dict(), None
            self.start_state = current
            if self.run_dir is not None:
                if (self.run_dir / CHECKPOINT).exists():
                    raise CheckpointError(str(self.run_dir), "it already holds a run",
                                          "resume it (resume=True / `backprose resume`) or pick a new folder")
                self.run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_json(self.run_dir / "config.json", self.config)
                self.events.truncate(0)  # the log of a start killed before it saved anything
                self._checkpoint(0, rng, current, None, None, spent, 0)  # resumable from the first moment
        clock = time.monotonic()
        bar = Progress(self.budget.steps or 0, enabled=self.progress, initial=start_step)
        # every request is counted in the run folder before it is sent (and refused past the call budget),
        # so calls made after the last checkpoint still count after a kill (see budget.CallLedger)
        ledger = CallLedger(self.run_dir / CALLS if self.run_dir else None, self.budget.calls)

        def tally(step: int) -> Spent:
            total = spent.plus(usage.as_dict(), time.monotonic() - clock)
            total.steps, total.calls = step, ledger.started
            return total

        with track_usage() as usage, limit_calls(ledger):
            try:
                moves = Moves(self, [], rng, current)
                unrun = sum(s is None for s in moves.known(current, list(self.val)))
                asked_before = ledger.started + usage.cache_hits
                try:
                    val_scores = moves.scores(current, list(self.val))
                except CallBudgetExhausted as exc:
                    exc.add_note(f"It ran out while scoring the starting program on {len(self.val)} validation "
                                 "examples, before any training step.")
                    raise
                current_val = mean(val_scores)
                if unrun:  # what validating one change costs, measured on the starting program; a request the
                    # cache answered (a resumed run's) counts, since a new program's requests are not cached
                    asked = ledger.started + usage.cache_hits - asked_before
                    self.validation_calls = asked * len(self.val) / unrun
                if initial_val is None:
                    initial_val = current_val
                    self.events.emit("start", val=current_val, train_size=len(self.train),
                                     val_size=len(self.val), state=state_key(current), parameters=current,
                                     strategy=self.strategy.name)
                    self._checkpoint(start_step, rng, current, current_val, initial_val, tally(start_step), stale)
                if resumed:
                    self.events.emit("resume", step=start_step)
                if isinstance(self.strategy, Pareto) and not self.strategy.pool:
                    self.strategy.seed(state_key(current), current, val_scores)
                stopped, step = "", start_step
                while True:
                    why = self.budget.exhausted(tally(step), stale) or self._cannot_validate(ledger)
                    if why:
                        stopped = why
                        break
                    batch = rng.sample(list(self.train), min(self.batch_size, len(self.train)))
                    try:
                        record, current, current_val = self._step(step, batch, rng, current, current_val)
                    except CallBudgetExhausted as exc:
                        # the limit that refused: the run's own, or a narrower one (a capped client of one model)
                        stopped = (f"budget of {exc.limit} model calls reached during a step; its "
                                   "unfinished change was dropped")
                        break
                    stale = 0 if record["improved"] else stale + 1
                    step += 1
                    total = tally(step)
                    record["spent"] = total.as_dict()
                    self.history.append(record)
                    self.events.emit("step", **record)
                    self._checkpoint(step, rng, current, current_val, initial_val, total, stale)
                    bar.update(record, total)
                final = tally(step)
            except BaseException:
                bar.close(keep=False)
                raise
            finally:
                ledger.close()
        bar.close()
        self.module.load_state_dict(current)
        self.events.emit("end", stopped=stopped, initial_val=initial_val, final_val=current_val,
                         spent=final.as_dict(), parameters=current)
        programs = {"start": self.start_state, "final": current} if self.start_state is not None else {"final": current}
        validation = collect(self.journal, "validation", self.val, programs)  # judged in the run: no model call
        if self.run_dir is not None:
            atomic_write_json(self.run_dir / "best.json", current)
            save(self.run_dir, validation)
            self._save_graph()
        return TrainResult(initial_val, current_val, list(self.history), final.as_dict(), stopped,
                           self.run_dir, current, validation)

    def _cannot_validate(self, ledger: CallLedger) -> str | None:
        """Why no step should start: the calls left cannot pay for validating a change (at least one
        minibatch call, then the validation run), so a step could only spend them and adopt nothing."""
        need = self.validation_calls
        if need is None or self.budget.calls is None:
            return None
        left = self.budget.calls - ledger.started
        if left >= math.ceil(need) + 1:
            return None
        return (f"the {left} model call(s) left of the budget of {self.budget.calls} cannot validate a change "
                f"({need:g} calls on the {len(self.val)} validation examples, after at least one minibatch call), "
                "so no further step was started")

    def evaluate(self, test: Sequence[Any]) -> SplitResults:
        """Score the starting and the final program once on held-out `test`, after `fit`; in a run folder
        this writes `test_results.json`. Nothing in training reads these scores."""
        return evaluate_split(self, test, "test")

    def _step(self, step: int, batch: list[Example], rng: random.Random, current: dict[str, Any],
              current_val: float) -> tuple[dict[str, Any], dict[str, Any], float]:
        moves = Moves(self, batch, rng, current)
        known_solved = moves.solved(current, batch)
        cand = None if known_solved else self.strategy.step(moves)
        record: dict[str, Any] = {"step": step, **moves.describe(), "val_before": current_val,
                                  "accepted": False, "improved": False}
        bar = moves.scores(current, batch)
        before = mean(bar)
        record["batch_before"] = before
        if cand is None or cand.key == moves.current_key:
            record.update(moves.not_chosen(step, None))
            reason = "no usable proposal"
            if min(bar) >= 1:
                reason = ("the current program already scores full marks on the whole minibatch, so no change "
                          "could win there" + (" (known from earlier scores: nothing was run)" if known_solved else ""))
            record.update(reason=reason, batch_after=before, val_after=current_val)
            return record, current, current_val
        raced = moves.race(cand.state, batch, bar)  # None: it lost on the examples the current program misses
        shown = moves.shown(cand.state, batch)
        after = None if raced is None else mean(raced)
        record.update(candidate=cand.key, parent=cand.parent, batch_after=after, shown=len(shown),
                      update=cand.update.as_dict() if cand.update else None)
        val_scores = None
        if raced is None:
            record.update(reason="not better on the minibatch (it does no better on the examples the current "
                                 "program misses, so the rest were not run)", val_after=None)
        elif not beats(sum(raced), sum(bar), bool(shown)):
            record.update(reason=f"not better on the minibatch ({after:.3f} <= {before:.3f})", val_after=None)
        else:
            if after == before:
                log.info("step %d: the candidate's new worked examples show %d of the minibatch's %d examples and "
                         "it ties on the rest, so the validation run judges it", step, len(shown), len(batch))
            val_scores = moves.scores(cand.state, list(self.val))
            val = mean(val_scores)
            record["val_after"] = val
            if val < current_val:
                record["reason"] = f"lowers the validation score ({val:.3f} < {current_val:.3f})"
            else:
                record.update(accepted=True, improved=val > current_val, reason="accepted")
                current, current_val = cand.state, val
        self.strategy.observe(cand, record["accepted"], val_scores)
        record.update(moves.not_chosen(step, cand.key))
        refusal = getattr(self.optimizer, "record_refusal", None)  # a duck-typed optimizer may not keep one
        if not record["accepted"] and cand.update is not None and refusal is not None:
            refusal(cand.update, record["reason"])
        self.events.emit("accept" if record["accepted"] else "reject", step=step, candidate=cand.key,
                         reason=record["reason"])
        return record, current, current_val

    # --- checkpoints --------------------------------------------------------------------------------------
    def _checkpoint(self, step: int, rng: random.Random, current: dict[str, Any], current_val: float | None,
                    initial_val: float | None, spent: Spent, stale: int) -> None:
        if self.run_dir is None:
            return
        version, internal, gauss = rng.getstate()
        save_checkpoint(self.run_dir, {
            "step": step, "current": current, "current_val": current_val, "initial_val": initial_val,
            "optimizer": self.optimizer.state_dict(), "strategy": self.strategy.state_dict(),
            "rng": [version, list(internal), gauss], "spent": spent.as_dict(), "stale": stale,
            "history": self.history, "events_offset": self.events.offset(), "start": self.start_state,
            "validation_calls": self.validation_calls,
        })

    def _restore(self, ck: dict[str, Any], rng: random.Random) -> None:
        try:
            version, internal, gauss = ck["rng"]
            rng.setstate((version, tuple(internal), gauss))
            self.module.load_state_dict(ck["current"])
            self.optimizer.load_state_dict(ck["optimizer"])
            self.strategy.load_state_dict(ck["strategy"])
            self.history = list(ck["history"])
            self.validation_calls = ck.get("validation_calls")  # a resumed run's start is memoized: not measured
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(str(self.run_dir), f"the checkpoint does not fit this program ({exc})",
                                  "resume with the same program, optimizer and strategy that started the run") from None

    def _save_graph(self) -> None:
        if not self.graph_outputs or self.run_dir is None:
            return
        try:
            from backprose.trace.export import to_networkx, to_svg

            (self.run_dir / "graph.svg").write_text(to_svg(to_networkx(self.graph_outputs)), encoding="utf-8")
        except Exception as exc:  # a picture is a nicety; never fail a finished run over it
            self.events.emit("warning", message=f"could not draw the graph: {exc}")


def train(module: Any, train: Sequence[Any], val: Sequence[Any] | None = None,
          guide: Callable[..., Any] | str = "exact_match", optimizer: Any = None, *, resume: bool = False,
          **options: Any) -> TrainResult:
    """Build a `Trainer` and run it; the module ends holding the best validated parameters."""
    return Trainer(module, train, val, guide, optimizer, **options).fit(resume=resume)


def default_recipe(module: Any, llm: Any = None) -> Any:
    """The optimizer `bp.train` uses when given none: the recipe over the module's parameters, on `llm`, else
    on the module's own model (an `llm` attribute that is a client), else on the configured default."""
    from backprose.optimizers.recipe import Recipe

    own = getattr(module, "llm", None)
    return Recipe(module.parameters(), llm if llm is not None else own if hasattr(own, "complete") else None)


def read_config(run_dir: str | Path, *, action: str = "resume") -> dict[str, Any]:
    """The `config.json` of a run folder: what was run (empty for a run started from Python)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise CheckpointError(str(run_dir), "it has no config.json", "pass the --out folder of a run", action=action)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(str(run_dir), f"config.json is damaged ({exc})", "restore the file, or start the "
                              "run again with `backprose optimize ... --out` a new folder", action=action) from None
    if not isinstance(config, dict):
        raise CheckpointError(str(run_dir), f"config.json holds a JSON {type(config).__name__}, not an object",
                              "restore the file, or start the run again in a new folder", action=action)
    return config


def _check_count(name: str, value: Any, least: int, fix: str) -> None:
    """Refuse a count that is not a whole number of at least `least`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidOption(name, value, f"it must be a whole number of {least} or more", fix)
