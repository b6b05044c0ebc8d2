"""Call limits: a budget of model calls that stops *before* the request that would exceed it.

Counting after the fact (`track_usage`) lets one optimizer step run far past a budget: a TextGrad backward
pass on a large graph makes dozens of requests. `limit_calls(n)` reserves each request as it starts, under
a lock, so at most `n` requests inside the block reach a model, however many threads or tasks send them.
Cache hits are free and never counted. Limits live in a ContextVar and nest; the tightest one wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from backprose.errors import CallBudgetExhausted


class CallLimit:
    """At most `limit` requests; `started` counts the ones let through so far (from `started`)."""

    def __init__(self, limit: int, started: int = 0) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit_calls({limit!r}): give a whole number of model calls, 0 or more")
        self.limit = limit
        self.started = started

    def count(self) -> None:
        """Count one request let through; a subclass may also record it durably before it is sent."""
        self.started += 1

    @property
    def remaining(self) -> int:
        return self.limit - self.started


_limits: ContextVar[tuple[CallLimit, ...]] = ContextVar("backprose_call_limits", default=())
_reserving = threading.Lock()  # one check-and-count at a time; it is a few integer operations


@contextmanager
def limit_calls(limit: int | CallLimit) -> Iterator[CallLimit]:
    """Let at most `limit` model requests start inside the block; the next raises `CallBudgetExhausted`.

    `limit` may be a `CallLimit` that already counts earlier calls. Worker threads see the limit when
    started through `contextvars.copy_context().run`, as backprose's own pools are.
    """
    current = limit if isinstance(limit, CallLimit) else CallLimit(limit)
    token = _limits.set(_limits.get() + (current,))
    try:
        yield current
    finally:
        _limits.reset(token)


def remaining_calls() -> int | None:
    """Requests the tightest open limit still lets through, or None when no limit is open."""
    limits = _limits.get()
    return min(lim.remaining for lim in limits) if limits else None


def reserve_call() -> None:
    """Count one request against every open limit, or raise if any of them is spent (counting nothing)."""
    limits = _limits.get()
    if not limits:
        return
    with _reserving:
        for lim in limits:
            if lim.started >= lim.limit:
                raise CallBudgetExhausted(lim.limit)
        for lim in limits:
            lim.count()
