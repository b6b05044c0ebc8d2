"""Beam search: keep the k best states seen so far and expand each of them every step."""

from __future__ import annotations

from typing import Any

from backprose.train.strategies.base import Candidate, State, StepContext, Strategy, best_of, expand, mean


class Beam(Strategy):
    """Each step expands every beam member with n proposals, then keeps the top k by minibatch score.

    The beam may hold states the validation gate refused, so the search can cross a dip that greedy
    steps cannot; the trainer still only ever adopts gated improvements.
    """

    name = "beam"

    def __init__(self, width: int = 2, n: int = 2) -> None:
        self.width, self.n = width, n
        self.beam: list[State] = []

    def step(self, ctx: StepContext) -> Candidate | None:
        if not self.beam:
            self.beam = [ctx.current]
        new: list[Candidate] = []
        for state in self.beam:
            new.extend(expand(ctx, state, self.n))
        pool: dict[str, State] = {ctx.key(s): s for s in self.beam}
        for cand in new:
            pool.setdefault(cand.key, cand.state)
        ranked = sorted(pool.items(), key=lambda kv: -mean(ctx.scores(kv[1], ctx.batch)))
        self.beam = [state for _, state in ranked[: self.width]]
        return best_of(ctx, new)

    def state_dict(self) -> dict[str, Any]:
        return {"beam": self.beam}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.beam = list(state.get("beam", []))
