"""UCB: treat every state found so far as a bandit arm and expand the one with the best upper bound."""

from __future__ import annotations

import math
from typing import Any

from backprose.train.strategies.base import Candidate, State, StepContext, Strategy, best_of, expand, mean


class UCB(Strategy):
    """Arms are states; each step pulls the arm maximizing mean + c * sqrt(ln N / n) on fresh minibatches."""

    name = "ucb"

    def __init__(self, c: float = 1.0, n: int = 2, max_arms: int = 16) -> None:
        self.c, self.n, self.max_arms = c, n, max_arms
        self.arms: dict[str, dict[str, Any]] = {}

    def _add(self, key: str, state: State) -> None:
        if key not in self.arms:
            self.arms[key] = {"state": state, "pulls": 0, "total": 0.0}

    def _bound(self, arm: dict[str, Any], total_pulls: int) -> float:
        if arm["pulls"] == 0:
            return math.inf
        return arm["total"] / arm["pulls"] + self.c * math.sqrt(math.log(max(total_pulls, 1)) / arm["pulls"])

    def step(self, ctx: StepContext) -> Candidate | None:
        self._add(ctx.current_key, ctx.current)
        total = sum(a["pulls"] for a in self.arms.values())
        key = max(self.arms, key=lambda k: self._bound(self.arms[k], total))  # dict order breaks ties
        arm = self.arms[key]
        arm["pulls"] += 1
        arm["total"] += mean(ctx.scores(arm["state"], ctx.batch))
        new = expand(ctx, arm["state"], self.n)
        for cand in new:
            self._add(cand.key, cand.state)
            child = self.arms[cand.key]
            child["pulls"] += 1
            child["total"] += mean(ctx.scores(cand.state, ctx.batch))
        if len(self.arms) > self.max_arms:  # forget the arms with the lowest mean
            ranked = sorted(self.arms, key=lambda k: self.arms[k]["total"] / max(self.arms[k]["pulls"], 1))
            for k in ranked[: len(self.arms) - self.max_arms]:
                if k != ctx.current_key:
                    del self.arms[k]
        return best_of(ctx, new)

    def state_dict(self) -> dict[str, Any]:
        return {"arms": self.arms}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.arms = dict(state.get("arms", {}))
