"""The moves a strategy makes during a step, bound to one trainer: score, reflect, apply.

Scores are memoized per (state, example) in the run's journal; reflect runs traced rollouts and carries
the guide's feedback backward before asking the optimizer; apply turns a proposal into a full state and
reverts the module, so nothing here leaves the program changed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backprose.agent import check_demos
from backprose.data.dataset import Example
from backprose.errors import InvalidUpdate
from backprose.optimizers.base import Proposal
from backprose.optimizers.problem import input_text
from backprose.trace.backward import backward
from backprose.train.checkpoint import example_key, state_key
from backprose.train.rollout import evaluate, rollouts
from backprose.train.strategies.base import Candidate, State, beats

if TYPE_CHECKING:
    from backprose.train.trainer import Trainer

log = logging.getLogger("backprose")


class Moves:
    """The trainer's implementation of `StepContext` for one step."""

    def __init__(self, trainer: Trainer, batch: Sequence[Example], rng: random.Random, current: State) -> None:
        self.trainer = trainer
        self.batch = batch
        self.rng = rng
        self.current = current
        self.current_key = state_key(current)
        self.proposals = 0
        self.made: list[Candidate] = []  # every candidate `apply` made this step, in order

    def key(self, state: State) -> str:
        return state_key(state)

    def _load(self, state: State) -> None:
        self.trainer.module.load_state_dict(state)

    def known(self, state: State, examples: Sequence[Example]) -> list[float | None]:
        """The memoized score of `state` on each example (None where it has not run yet)."""
        key = state_key(state)
        return [None if (r := self.trainer.journal.get(key, example_key(ex))) is None else r[0] for ex in examples]

    def scores(self, state: State, examples: Sequence[Example]) -> list[float]:
        t = self.trainer
        key = state_key(state)
        missing = [ex for ex, s in zip(examples, self.known(state, examples), strict=True) if s is None]
        if missing:
            before = t.module.state_dict()
            self._load(state)
            try:
                judged = evaluate(t.module, missing, t.guide, executor=t.executor, concurrency=t.workers)
            finally:
                self._load(before)
            for ex, j in zip(missing, judged, strict=True):
                t.journal.put(key, example_key(ex), j.score, j.feedback, j.text)
            t.events.emit("evaluate", state=key, examples=[ex.id for ex in missing],
                          scores=[j.score for j in judged])
        return self.known(state, examples)  # type: ignore[return-value]

    def shown(self, state: State, examples: Sequence[Example]) -> set[str]:
        """Ids of the `examples` whose input `state`'s worked examples hold and the current program's do not:
        its prompt shows their answers, so scoring it on them tests nothing (see `shown_inputs`)."""
        new = shown_inputs(state) - shown_inputs(self.current)
        return {ex.id for ex in examples if _held(input_text(ex.input), new)}

    def race(self, state: State, examples: Sequence[Example], bar: Sequence[float],
             shows: int = 0) -> list[float] | None:
        """Scores of `state` on `examples`, or None as soon as it cannot beat `bar` (the scores to beat, made by a
        program whose worked examples show `shows` of the examples; see `beats`).

        An example the candidate's new worked examples show (`shown`) is not run: it counts at the bar's score.
        Of the rest, the examples `bar` misses run first: a candidate that fixes none of them cannot win even
        with every other example at the top score (1), so the rest never run. On a minibatch the current
        program half solves, a candidate that does not help costs half the minibatch's model calls instead of
        all; on one its worked examples show in full, none.
        """
        shown = self.shown(state, examples)
        ties = len(shown) > shows
        tested = [(ex, b) for ex, b in zip(examples, bar, strict=True) if ex.id not in shown]
        missed = [ex for ex, b in tested if b < 1]
        first = self.scores(state, missed) if missed else []
        if not beats(sum(first) + (len(tested) - len(missed)), sum(b for _, b in tested), ties):
            return None
        got = dict(zip((ex.id for ex, _ in tested), self.scores(state, [ex for ex, _ in tested]), strict=True))
        return [got.get(ex.id, b) for ex, b in zip(examples, bar, strict=True)]  # the ones run are memoized

    def solved(self, state: State, examples: Sequence[Example]) -> bool:
        """Whether `state` is already known (from memoized scores, at no cost) to score full marks on every
        one of `examples`: then no candidate can beat it there, and a step on them is skipped."""
        found = self.known(state, examples)
        return bool(found) and all(s is not None and s >= 1 for s in found)

    def reflect(self, state: State, n: int) -> list[Proposal]:
        """Traced rollouts of `state` on the minibatch, backward, then `n` proposals; none when every
        rollout scored full marks (no proposal could win there, so none is paid for)."""
        t = self.trainer
        key = state_key(state)
        before = t.module.state_dict()
        self._load(state)
        try:
            results = rollouts(t.module, self.batch, t.guide, concurrency=t.workers)
            for r in results:
                t.journal.put(key, example_key(r.example), r.score, r.feedback, r.text)
            t.events.emit("rollouts", state=key, rollouts=[r.as_dict() for r in results])
            if t.graph_outputs is None:
                t.graph_outputs = [r.output for r in results if r.output is not None][:1]
            traced = [r for r in results if r.output is not None]
            if not traced or all(r.score >= 1 for r in results):
                return []
            texts = [t.feedback_text(r) for r in traced]
            # An optimizer that keeps worked examples also gets, for each missed example, its target when the
            # guide gives that target full marks: a reply proven right without a correct run. So does an
            # example whose right run is no example to show: its reply stopped at the token limit.
            refs = ([t.reference(r.example) if r.score < 1 or getattr(r.output, "truncated", False) else None
                     for r in traced] if getattr(t.optimizer, "uses_references", False) else None)
            offer = getattr(t.optimizer, "offer", None)
            if refs is not None and offer is not None:  # and, drawn only as far as needed, the rest of train's
                offer(t.spare_references(self.batch))
            # each example's input goes with its feedback: a program may pass it to a model call as a
            # plain string, and then no node in the graph shows what was asked.
            # An optimizer that writes its own gradients (TextGrad) brings its propagator
            backward([r.output for r in traced], texts,  # type: ignore[misc]
                     inputs=[r.example.input for r in traced], references=refs,
                     propagator=getattr(t.optimizer, "propagator", None))
            proposals = t.optimizer.propose(n)
            self.proposals += len(proposals)
            return proposals
        finally:
            t.optimizer.zero_feedback()
            t.module.zero_feedback()
            self._load(before)

    def apply(self, state: State, proposal: Proposal) -> Candidate | None:
        t = self.trainer
        before = t.module.state_dict()
        self._load(state)
        try:
            update = t.optimizer.apply(proposal)
            if not update.accepted:
                t.events.emit("refused", parent=state_key(state), update=update.as_dict())
                return None
            new = t.module.state_dict()
            update.revert()
        finally:
            self._load(before)
        made = Candidate(new, state_key(new), state_key(state), update)
        self.made.append(made)
        return made

    def describe(self) -> dict[str, Any]:
        return {"batch": [ex.id for ex in self.batch], "proposals": self.proposals}

    def not_chosen(self, step: int, chosen: str | None) -> dict[str, Any]:
        """`{"tried": [...]}` for the step's record: the candidates made this step besides `chosen`, with their
        new values and what they scored on the minibatch examples they ran (none: its worked examples showed
        every one, or it was never raced), each also logged. A change that lost the race is in no other
        record, so without this it would leave no trace. Empty when there were none."""
        tried = self._tried(chosen)
        for t in tried:
            ran = (f"it scored {t['scored']:g} on the {t['ran']} minibatch example(s) it ran" if t["ran"] else
                   "it ran on no minibatch example")
            log.info("step %d: a candidate changing %s was not chosen (%s)", step,
                     ", ".join(c["name"] for c in t["changes"]), ran)
        return {"tried": tried} if tried else {}

    def _tried(self, chosen: str | None) -> list[dict[str, Any]]:
        out, seen = [], {chosen, self.current_key}  # a candidate equal to the current program changes nothing
        for cand in self.made:
            if cand.key in seen:
                continue
            seen.add(cand.key)
            ran = [s for s in self.known(cand.state, self.batch) if s is not None]
            changes = cand.update.as_dict()["changes"] if cand.update is not None else []
            out.append({"candidate": cand.key, "parent": cand.parent, "ran": len(ran), "scored": sum(ran),
                        "changes": [{"name": c["name"], "old": c["old"], "new": c["new"]}
                                    for c in changes if c["accepted"]]})
        return out


def shown_inputs(state: State) -> set[str]:
    """The inputs of every worked example a state holds (each value that is a list of {"input", "reply"})."""
    found: set[str] = set()
    for record in state.values():
        value = record.get("value") if isinstance(record, dict) and record.get("type") == "json" else None
        if isinstance(value, list) and value:
            try:
                found.update(demo["input"].strip() for demo in check_demos(value))
            except InvalidUpdate:
                continue
    return found


def _held(text: str, inputs: set[str]) -> bool:
    """Whether a worked example's input is `text`, or holds it (a program may wrap the input in a prompt; a
    short text counts only as a whole input, since it would turn up inside unrelated ones)."""
    core = text.strip()
    return bool(core) and (core in inputs or (len(core) >= 20 and any(core in given for given in inputs)))
