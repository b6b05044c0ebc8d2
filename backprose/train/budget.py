"""Budgets: stop a run after so many steps, model calls, tokens, dollars or seconds, or when it stalls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Spent:
    """What a run has used so far, carried across resumes in the checkpoint."""

    steps: int = 0
    calls: int = 0
    cache_hits: int = 0
    tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def plus(self, usage: dict[str, Any], seconds: float) -> Spent:
        """This plus a `Usage.as_dict()` and elapsed seconds (a new object; this one is unchanged)."""
        return Spent(self.steps, self.calls + usage["calls"], self.cache_hits + usage["cache_hits"],
                     self.tokens + usage["total_tokens"], self.cost + (usage["cost"] or 0.0),
                     self.seconds + seconds)


@dataclass
class Budget:
    """Limits; None means unlimited. `patience`: stop after that many steps without a validation gain."""

    steps: int | None = None
    calls: int | None = None
    tokens: int | None = None
    cost: float | None = None
    seconds: float | None = None
    patience: int | None = None

    def exhausted(self, spent: Spent, stale_steps: int = 0) -> str | None:
        """Why the run must stop now, or None to go on."""
        checks = [("steps", spent.steps, self.steps), ("model calls", spent.calls, self.calls),
                  ("tokens", spent.tokens, self.tokens), ("cost", spent.cost, self.cost),
                  ("seconds", spent.seconds, self.seconds)]
        for what, used, limit in checks:
            if limit is not None and used >= limit:
                return f"budget of {limit} {what} reached"
        if self.patience is not None and stale_steps >= self.patience:
            return f"no validation gain in {stale_steps} steps (patience {self.patience})"
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
