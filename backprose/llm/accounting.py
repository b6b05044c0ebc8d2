"""Usage counters: how many calls, tokens, seconds and dollars a client or a block of code spent.

A client owns a `Usage`; `track_usage()` opens another one in a ContextVar so an optimizer step can
measure exactly the calls it made, across every client, without touching global state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# US dollars per 1M tokens (prompt, completion). Matched by longest prefix, so dated snapshots
# ("gpt-4o-2024-08-06") price like their family. Unknown models price as None, never as zero.
PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}


def price_for(
    model: str, prices: Mapping[str, tuple[float, float]] | None = None
) -> tuple[float, float] | None:
    """Per-1M-token (prompt, completion) price of `model`, from `prices` first, then the built-in table."""
    for table in (prices or {}, PRICES):
        best = max((name for name in table if model.startswith(name)), key=len, default=None)
        if best is not None:
            return table[best]
    return None


def cost_of(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> float | None:
    """Dollar cost of one call, or None when the model's price is unknown."""
    price = price_for(model, prices)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


class Usage:
    """Thread-safe counters of model calls.

    `calls` counts requests that reached a model; `cache_hits` counts requests answered from a cache
    (they cost nothing). `cost` is None while no call could be priced; `unpriced_calls` says how many
    calls are missing from it. `wall_time` is the elapsed time of a `track_usage()` block (None for a
    client's own counters); `call_seconds` sums the time spent waiting on calls.
    """

    _FIELDS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "call_seconds", "unpriced_calls")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.call_seconds = 0.0
        self.unpriced_calls = 0
        self.cost: float | None = None
        self._started: float | None = None
        self._ended: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def wall_time(self) -> float | None:
        if self._started is None:
            return None
        return (self._ended if self._ended is not None else time.perf_counter()) - self._started

    def add(
        self,
        *,
        cached: bool,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        seconds: float = 0.0,
        cost: float | None = None,
    ) -> None:
        """Count one finished request."""
        with self._lock:
            self.call_seconds += seconds
            if cached:
                self.cache_hits += 1
                return
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if cost is None:
                self.unpriced_calls += 1
            else:
                self.cost = (self.cost or 0.0) + cost

    def reset(self) -> None:
        """Zero every counter (like `optimizer.zero_grad()` for spending)."""
        with self._lock:
            for name in self._FIELDS:
                setattr(self, name, type(getattr(self, name))())
            self.cost = None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {name: getattr(self, name) for name in self._FIELDS}
            out["cost"] = self.cost
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
        out["wall_time"] = self.wall_time
        return out

    def summary(self) -> str:
        d = self.as_dict()
        parts = [
            f"{d['calls']} calls",
            f"{d['cache_hits']} cache hits",
            f"{d['prompt_tokens']} prompt + {d['completion_tokens']} completion tokens",
        ]
        if d["cost"] is None:
            parts.append("cost unknown")
        else:
            extra = f" ({d['unpriced_calls']} calls unpriced)" if d["unpriced_calls"] else ""
            parts.append(f"${d['cost']:.4f}{extra}")
        if d["wall_time"] is not None:
            parts.append(f"{d['wall_time']:.2f}s wall")
        else:
            parts.append(f"{d['call_seconds']:.2f}s in calls")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Usage({self.summary()})"


_trackers: ContextVar[tuple[Usage, ...]] = ContextVar("backprose_usage_trackers", default=())


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Count every model call made inside the block, by any client; blocks nest.

    The trackers live in a ContextVar, so asyncio tasks started inside the block are counted; worker
    threads are counted when started through `contextvars.copy_context().run`.
    """
    usage = Usage()
    usage._started = time.perf_counter()
    token = _trackers.set(_trackers.get() + (usage,))
    try:
        yield usage
    finally:
        usage._ended = time.perf_counter()
        _trackers.reset(token)


def record(
    own: Usage,
    *,
    cached: bool,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    seconds: float = 0.0,
    cost: float | None = None,
) -> None:
    """Count one request in the client's own counters and in every open `track_usage()` block."""
    for usage in (own, *_trackers.get()):
        usage.add(
            cached=cached,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=seconds,
            cost=cost,
        )
