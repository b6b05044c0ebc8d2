"""Tracing state, kept in ContextVars so threads and asyncio tasks never see each other's graphs.

Three pieces of state, all scoped to the current context:
- whether tracing is on (`no_trace` turns it off, like `torch.no_grad`);
- the control conditions of the enclosing `scope()` (a traceable bundle body is a scope too): every node
  whose truth value steered a branch, so nodes created afterwards remember what decided they exist;
- the nodes read inside an opaque bundle body (`.value` of a parameter captured from a closure, a global or
  `self`), which become parents of that bundle's output.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

_tracing: ContextVar[bool] = ContextVar("backprose_tracing", default=True)
_conditions: ContextVar[tuple | None] = ContextVar("backprose_conditions", default=None)
_reads: ContextVar[list | None] = ContextVar("backprose_reads", default=None)
_scope_path: ContextVar[str] = ContextVar("backprose_scope_path", default="")

F = TypeVar("F", bound=Callable[..., Any])


def is_tracing() -> bool:
    return _tracing.get()


class no_trace:
    """Run without building a graph; nests, restores the previous state, and works as a decorator."""

    def __enter__(self) -> no_trace:
        self._token = _tracing.set(False)
        return self

    def __exit__(self, *exc: object) -> None:
        _tracing.reset(self._token)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with no_trace():
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_trace():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


@contextmanager
def enable_trace() -> Iterator[None]:
    token = _tracing.set(True)
    try:
        yield
    finally:
        _tracing.reset(token)


@contextmanager
def scope(name: str = "") -> Iterator[None]:
    """Record branch conditions: nodes created in this block depend on every node whose truth steered it."""
    cond_token = _conditions.set(_conditions.get() or ())
    path_token = _scope_path.set(f"{_scope_path.get()}/{name}" if name else _scope_path.get())
    try:
        yield
    finally:
        _scope_path.reset(path_token)
        _conditions.reset(cond_token)


def current_conditions() -> tuple:
    return _conditions.get() or ()


def current_scope_path() -> str:
    return _scope_path.get()


def note_condition(node: Any) -> None:
    """Called when a node's truth value is taken; inside a scope, later nodes get it as a control parent."""
    conditions = _conditions.get()
    if conditions is not None and not any(c is node for c in conditions):
        _conditions.set(conditions + (node,))


def note_read(node: Any) -> None:
    reads = _reads.get()
    if reads is not None:
        reads.append(node)
