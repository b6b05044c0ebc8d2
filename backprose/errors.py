"""Every error backprose raises on purpose: each message names the cause and the fix."""

from __future__ import annotations

from typing import Any


class BackproseError(Exception):
    """Base class, so callers can catch everything backprose raises deliberately."""


class ExecutionError(BackproseError):
    """A traced operation raised; `.node` is the ErrorNode in the graph, so `err.node.backward(...)` works."""

    def __init__(self, node: Any):
        self.node = node
        super().__init__(str(node.value))


class InvalidUpdate(BackproseError, ValueError):
    """A new parameter value was rejected; the parameter keeps its old value."""


class GraphError(BackproseError):
    """Misuse of the graph API, such as calling backward twice on a freed graph."""


# --- LLM layer -------------------------------------------------------------------------------------------


# --- isolation -------------------------------------------------------------------------------------------
