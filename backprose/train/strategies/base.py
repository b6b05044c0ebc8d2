"""One interface for searching over candidate updates.

Each step the trainer hands a strategy a `StepContext` (the minibatch and the moves it may make) and gets
back at most one `Candidate`: a full module state the strategy thinks is better than the current one. The
trainer then gates it (better on the minibatch, not worse on validation) and tells the strategy what
happened through `observe`. Strategies keep their own pool of states (beam, bandit arms, Pareto front),
saved in checkpoints via `state_dict`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backprose.data.dataset import Example
from backprose.optimizers.base import Proposal, Update

State = dict[str, Any]


@dataclass
class Candidate:
    """A module state proposed by a strategy, with the update that produced it from `parent`."""

    state: State
    key: str
    parent: str
    update: Update | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class StepContext(Protocol):
    """What a strategy may do during one step (implemented by the trainer)."""

    batch: Sequence[Example]
    rng: random.Random
    current: State
    current_key: str

    def key(self, state: State) -> str:
        """The stable identity of a state."""
        ...

    def scores(self, state: State, examples: Sequence[Example]) -> list[float]:
        """Per-example scores of `state` (memoized: a state is never re-run on an example)."""
        ...

    def shown(self, state: State, examples: Sequence[Example]) -> set[str]:
        """Ids of the examples whose answers `state`'s new worked examples show (they cannot test it)."""
        ...

    def race(self, state: State, examples: Sequence[Example], bar: Sequence[float],
             shows: int = 0) -> list[float] | None:
        """Scores of `state`, or None once it cannot beat the scores `bar` (missed examples run first)."""
        ...

    def reflect(self, state: State, n: int) -> list[Proposal]:
        """Run `state` on the minibatch with tracing, backward the guide's feedback, ask for `n` proposals."""
        ...

    def apply(self, state: State, proposal: Proposal) -> Candidate | None:
        """The state that `proposal` makes from `state` (None when every suggestion was refused)."""
        ...


class Strategy:
    """Base class: subclasses write `step`; `observe` and the state methods are optional."""

    name = "strategy"

    def step(self, ctx: StepContext) -> Candidate | None:
        raise NotImplementedError

    def observe(self, candidate: Candidate, accepted: bool, val_scores: list[float] | None) -> None:
        """Called after the gate; `val_scores` is None when the candidate failed the minibatch stage."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def beats(score: float, bar: float, ties: bool) -> bool:
    """Whether a candidate's minibatch total `score` beats the `bar`: higher, or equal when `ties`.

    A tie wins when the candidate's worked examples show more of the minibatch than the bar's program's do.
    Those examples were not run (their answers are in its prompt), so the minibatch cannot tell what they
    teach; only the validation run can. Without the tie a new list of worked examples would have to fix one
    of the few examples it does not show: on a real task a 0.5B model's 16-example list fixed none there
    three steps running, and never reached the validation run that accepted such lists on other seeds.
    """
    return score > bar or (ties and score == bar)


def best_of(ctx: StepContext, candidates: list[Candidate]) -> Candidate | None:
    """The candidate that beats the best so far, at first the current program, in order (see `beats`): a
    later one must do better than an earlier one, so the cheapest of equals wins and the choice is
    deterministic.

    Each candidate races the best so far: one that cannot beat it stops before the rest of the minibatch
    runs. When none beats the current program the first is returned, and the trainer's gate refuses it
    with its reason (it races again, from memoized scores).
    """
    best, bar, shows = None, ctx.scores(ctx.current, ctx.batch), 0
    for cand in candidates:
        scores = ctx.race(cand.state, ctx.batch, bar, shows)
        shown = len(ctx.shown(cand.state, ctx.batch))
        if scores is not None and beats(sum(scores), sum(bar), shown > shows):
            cand.meta["batch_score"] = mean(scores)
            best, bar, shows = cand, scores, shown
    return best or (candidates[0] if candidates else None)


def expand(ctx: StepContext, state: State, n: int) -> list[Candidate]:
    """Reflect on `state` and turn each of the `n` proposals into a candidate (refused ones dropped)."""
    out = []
    for proposal in ctx.reflect(state, n):
        cand = ctx.apply(state, proposal)
        if cand is not None and all(cand.key != c.key for c in out):
            out.append(cand)
    return out
