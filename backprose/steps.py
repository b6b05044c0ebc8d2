"""One implementation for each sync/async pair.

The logic is written once, as a generator that yields each blocking call it needs (a `Call`) and receives
that call's result back, or its exception raised at the `yield`. Two thin drivers make the calls: `run`
calls them, `arun` awaits them. So a sync function and its async twin differ in one line, and cannot drift:

    def _asking(client, messages):            # the logic, written once
        completion = yield Call(client.complete, client.acomplete, (messages,))
        return completion.text

    def ask(client, messages): return run(_asking(client, messages))
    async def aask(client, messages): return await arun(_asking(client, messages))

Context variables set by the generator hold across the call: it runs in the caller's context (or task).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def Call(fn: Callable[..., Any], afn: Callable[..., Awaitable[Any]], args: Sequence[Any] = (),
         kwargs: dict[str, Any] | None = None) -> tuple:
    """A blocking call in both colours: `fn(*args, **kwargs)` for `run`, `await afn(*args, **kwargs)` for `arun`.

    A plain tuple, because a bundle call is a hot path."""
    return fn, afn, args, kwargs or _NO_KWARGS


_NO_KWARGS: dict[str, Any] = {}
Steps = Generator[tuple, Any, T]


def run(steps: Steps[T]) -> T:
    """Drive `steps`, making each call directly."""
    try:
        fn, _, args, kwargs = next(steps)
        while True:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # the steps decide; their `finally` blocks must run
                fn, _, args, kwargs = steps.throw(exc)
            else:
                fn, _, args, kwargs = steps.send(result)
    except StopIteration as stop:
        return stop.value


async def arun(steps: Steps[T]) -> T:
    """Drive `steps`, awaiting each call (a cancellation reaches the steps too, so their `finally` runs)."""
    try:
        _, afn, args, kwargs = next(steps)
        while True:
            try:
                result = await afn(*args, **kwargs)
            except BaseException as exc:
                _, afn, args, kwargs = steps.throw(exc)
            else:
                _, afn, args, kwargs = steps.send(result)
    except StopIteration as stop:
        return stop.value
