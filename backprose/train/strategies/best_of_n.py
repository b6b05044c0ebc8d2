"""Best-of-n: ask for n proposals from the current state and keep the one that scores best on the batch."""

from __future__ import annotations

from backprose.train.strategies.base import Candidate, StepContext, Strategy, best_of, expand


class BestOfN(Strategy):
    """n=1 is the plain optimizer step; larger n trades model calls for a better pick."""

    name = "best_of_n"

    def __init__(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n

    def step(self, ctx: StepContext) -> Candidate | None:
        return best_of(ctx, expand(ctx, ctx.current, self.n))
