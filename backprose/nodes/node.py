"""The base node: a value in the graph, with its parents and the feedback it received.

A `Node` with no parents is a constant (an input). Subclasses add trainability (`Parameter`), provenance
(`Message`: the output of a traced op) and failure (`ErrorNode`). Operators on nodes are installed from the
table in `operators.py`, so everything an op does on a node lives in one place.
"""

from __future__ import annotations

from typing import Any

from backprose.context import _reads, current_conditions, is_tracing, note_condition


class Node:
    """A value in the graph. Nodes hash by identity, because `==` on nodes is itself a traced op."""

    kind = "node"
    __slots__ = ("_value", "name", "description", "parents", "control", "feedback", "scope", "__weakref__")

    def __init__(self, value: Any, name: str | None = None, description: str = "") -> None:
        if isinstance(value, Node):
            value = value.value
        self._value = value
        self.name = name or "const"
        self.description = description
        self.parents: tuple[Node, ...] = ()
        # A constant made inside `bp.scope()` (or a traceable body) exists because of the branch that made it.
        self.control: tuple[Node, ...] = current_conditions() if self.kind == "node" and is_tracing() else ()
        self.feedback: list = []
        self.scope = ""

    __hash__ = object.__hash__

    @property
    def value(self) -> Any:
        reads = _reads.get()
        if reads is not None:
            reads.append(self)
        return self._value

    @property
    def inputs(self) -> tuple[Node, ...]:
        """Data parents followed by control parents: every edge backward travels."""
        return self.parents + self.control if self.control else self.parents

    def zero_feedback(self) -> None:
        self.feedback = []

    def backward(self, feedback: str = "", **options: Any) -> Any:
        """Send `feedback` to every ancestor of this node; see `backprose.trace.backward.backward`."""
        from backprose.trace.backward import backward

        return backward(self, feedback, **options)

    # Python insists these return plain types, so they read the value instead of tracing an op.
    def __bool__(self) -> bool:
        note_condition(self)
        return bool(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __contains__(self, item: Any) -> bool:
        return (item.value if isinstance(item, Node) else item) in self.value

    def __index__(self) -> int:
        return self.value.__index__()

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {short(self._value)})"


def short(value: Any, limit: int = 80) -> str:
    """A one-line, bounded repr for labels and error messages."""
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
