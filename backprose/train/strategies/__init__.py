"""Search strategies over candidate updates: best-of-n, beam, UCB and a Pareto front (GEPA-style)."""

from __future__ import annotations

from typing import Any

from backprose.errors import UnknownOptimizer
from backprose.train.strategies.base import Candidate, StepContext, Strategy
from backprose.train.strategies.beam import Beam
from backprose.train.strategies.best_of_n import BestOfN
from backprose.train.strategies.pareto import Pareto
from backprose.train.strategies.ucb import UCB

STRATEGIES: dict[str, type[Strategy]] = {"best_of_n": BestOfN, "beam": Beam, "ucb": UCB, "pareto": Pareto}


def make_strategy(spec: str | Strategy | None, **options: Any) -> Strategy:
    """A strategy from a name (see `STRATEGIES`) or an instance; None is best-of-1."""
    if spec is None:
        return BestOfN(**options)
    if isinstance(spec, Strategy):
        return spec
    try:
        return STRATEGIES[spec](**options)
    except KeyError:
        raise UnknownOptimizer("search strategy", spec, sorted(STRATEGIES)) from None


__all__ = ["STRATEGIES", "UCB", "Beam", "BestOfN", "Candidate", "Pareto", "StepContext", "Strategy",
           "make_strategy"]
