"""The sandbox used when the caller names none: one per process, created on first use, closed at exit.

`use_sandbox(sb)` overrides it for the current context (thread or asyncio task), e.g. in tests or to
give one workflow stricter limits, without touching the process-wide one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar

from backprose.isolation.sandbox import Sandbox

_override: ContextVar[Sandbox | None] = ContextVar("backprose_sandbox", default=None)


class _ProcessSandbox:
    """Holder of the lazily created per-process sandbox; reset in a forked child, which owns no workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sandbox: Sandbox | None = None

    def get(self) -> Sandbox:
        with self.lock:
            if self.sandbox is None or self.sandbox.closed:
                self.sandbox = Sandbox()
            return self.sandbox

    def close(self) -> None:
        with self.lock:
            sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.close()

    def forget(self) -> None:
        self.lock = threading.Lock()
        self.sandbox = None


_process = _ProcessSandbox()
atexit.register(_process.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_process.forget)


def default_sandbox() -> Sandbox:
    """The sandbox set by `use_sandbox` in this context, else the process-wide one (created lazily)."""
    return _override.get() or _process.get()


@contextlib.contextmanager
def use_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """Make `default_sandbox()` return `sandbox` inside the block (nests; safe under threads and asyncio)."""
    token = _override.set(sandbox)
    try:
        yield sandbox
    finally:
        _override.reset(token)
