"""Budgets: stop a run after so many steps, model calls, tokens, dollars or seconds, or when it stalls."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backprose.llm.limits import CallLimit


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


class CallLedger(CallLimit):
    """A call limit that appends a line to `calls.log` of the run folder as each request is let through,
    before it is sent. The ledger survives any kill, so calls made after the last checkpoint still count
    when the run resumes: a resumed run never goes past its call budget, and reports every call it made.
    A call in flight when the process died counts as made (the server may have billed it).
    """

    def __init__(self, path: Path | None, limit: int | None) -> None:
        data = path.read_bytes() if path is not None and path.exists() else b""
        super().__init__(sys.maxsize if limit is None else limit, data.count(b"\n") + (data[-1:] not in (b"", b"\n")))
        self.path = path
        self._fd: int | None = None

    def count(self) -> None:
        if self.path is not None:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, f"{time.time():.3f}\n".encode())
        super().count()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
