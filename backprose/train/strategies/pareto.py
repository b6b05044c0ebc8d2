"""Pareto search with reflective mutation, in the manner of GEPA.

The pool holds every candidate that passed the minibatch gate, with its score on each validation example.
A parent is drawn from the Pareto front (candidates best on at least one example, dominated ones dropped),
weighted by how many examples it leads on; reflecting on its minibatch rollouts mutates it into a child.
Keeping specialists alive lets lessons learned on different examples be found before they are merged.
"""

from __future__ import annotations

from typing import Any

from backprose.train.strategies.base import Candidate, State, StepContext, Strategy, best_of, expand


class Pareto(Strategy):
    name = "pareto"

    def __init__(self, n: int = 1) -> None:
        self.n = n
        self.pool: dict[str, dict[str, Any]] = {}  # key -> {"state", "scores": per validation example}

    def front(self) -> dict[str, int]:
        """Keys on the Pareto front and how many validation examples each is (jointly) best on."""
        if not self.pool:
            return {}
        keys = list(self.pool)
        width = min(len(self.pool[k]["scores"]) for k in keys)
        wins: dict[str, int] = {}
        for i in range(width):
            top = max(self.pool[k]["scores"][i] for k in keys)
            for k in keys:
                if self.pool[k]["scores"][i] == top:
                    wins[k] = wins.get(k, 0) + 1
        return {k: w for k, w in wins.items() if not any(self._dominates(o, k, width) for o in wins if o != k)}

    def _dominates(self, a: str, b: str, width: int) -> bool:
        sa, sb = self.pool[a]["scores"][:width], self.pool[b]["scores"][:width]
        return all(x >= y for x, y in zip(sa, sb, strict=True)) and any(x > y for x, y in zip(sa, sb, strict=True))

    def step(self, ctx: StepContext) -> Candidate | None:
        if ctx.current_key not in self.pool:
            self.pool[ctx.current_key] = {"state": ctx.current, "scores": None}
        front = self.front() if all(v["scores"] is not None for v in self.pool.values()) else {}
        if front:
            keys = sorted(front)
            parent: State = self.pool[ctx.rng.choices(keys, weights=[front[k] for k in keys])[0]]["state"]
        else:
            parent = ctx.current
        cand = best_of(ctx, expand(ctx, parent, self.n))
        if cand is not None:
            cand.meta["parent_on_front"] = bool(front)
        return cand

    def observe(self, candidate: Candidate, accepted: bool, val_scores: list[float] | None) -> None:
        if val_scores is not None:
            self.pool[candidate.key] = {"state": candidate.state, "scores": list(val_scores)}

    def seed(self, key: str, state: State, val_scores: list[float]) -> None:
        """Record the starting state's validation scores (the trainer calls this once)."""
        self.pool[key] = {"state": state, "scores": list(val_scores)}

    def state_dict(self) -> dict[str, Any]:
        return {"pool": self.pool}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool = dict(state.get("pool", {}))
