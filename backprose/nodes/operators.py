"""Every operator on a node is a traced op; this table is the whole list.

Each row names the op, the function that computes it on raw values, and the sentence an optimizer reads to
understand it. Reflected operators (`1 + node`) get their own row so the graph keeps the operand order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

from backprose.nodes.apply import apply
from backprose.nodes.message import Op
from backprose.nodes.node import Node

_BINARY: list[tuple[str, str, Callable[[Any, Any], Any], str]] = [
    ("add", "+", operator.add, "x + y"),
    ("sub", "-", operator.sub, "x - y"),
    ("mul", "*", operator.mul, "x * y"),
    ("truediv", "/", operator.truediv, "x / y"),
    ("floordiv", "//", operator.floordiv, "x // y"),
    ("mod", "%", operator.mod, "x % y"),
    ("pow", "**", operator.pow, "x ** y"),
    ("matmul", "@", operator.matmul, "x @ y"),
    ("and", "&", operator.and_, "x & y"),
    ("or", "|", operator.or_, "x | y"),
    ("xor", "^", operator.xor, "x ^ y"),
]
_COMPARE: list[tuple[str, Callable[[Any, Any], Any], str]] = [
    ("lt", operator.lt, "x < y"),
    ("le", operator.le, "x <= y"),
    ("gt", operator.gt, "x > y"),
    ("ge", operator.ge, "x >= y"),
    ("eq", operator.eq, "x == y"),
    ("ne", operator.ne, "x != y"),
]
_UNARY: list[tuple[str, Callable[[Any], Any], str]] = [
    ("neg", operator.neg, "-x"),
    ("pos", operator.pos, "+x"),
    ("abs", abs, "abs(x)"),
    ("invert", operator.invert, "~x"),
]
# Methods traced as one op each (a bound `node.split` is not a separate getattr node).
TRACED_METHODS = frozenset(
    "format join replace split rsplit splitlines strip lstrip rstrip lower upper title capitalize "
    "startswith endswith find count removeprefix removesuffix keys values items get "
    "sum mean min max round tolist".split()
)


def _binary(name: str, fn: Callable[[Any, Any], Any], doc: str) -> tuple[Callable, Callable]:
    op = Op(name, f"[{name}] {doc}")
    rop = Op(name, f"[{name}] {doc} (operands as written: y is the node)")

    def forward(self: Node, other: Any) -> Node:
        return apply(op, fn, (self, other))

    def reflected(self: Node, other: Any) -> Node:
        return apply(rop, fn, (other, self))

    return forward, reflected


def _install() -> None:
    for name, _symbol, fn, doc in _BINARY:
        forward, reflected = _binary(name, fn, doc)
        setattr(Node, f"__{name}__", forward)
        setattr(Node, f"__r{name}__", reflected)
    for name, fn, doc in _COMPARE:
        setattr(Node, f"__{name}__", _binary(name, fn, doc)[0])
    for name, fn, doc in _UNARY:
        op = Op(name, f"[{name}] {doc}")
        setattr(Node, f"__{name}__", lambda self, _op=op, _fn=fn: apply(_op, _fn, (self,)))


_GETITEM = Op("getitem", "[getitem] x[index]: one element or slice of x")
_GETATTR = Op("getattr", "[getattr] x.name: an attribute of x")
_CALL = Op("call", "[call] x(*args, **kwargs): call the callable value of x")
_LEN = Op("len", "[len] len(x)")


def _getitem(self: Node, index: Any) -> Node:
    return apply(_GETITEM, operator.getitem, (self, index))


def _iter(self: Node) -> Iterator[Node]:
    """Iterating a node yields one traced `getitem` per element (dicts iterate their keys)."""
    value = self._value
    if isinstance(value, dict):
        for key in value:
            yield apply(_GETITEM, lambda _v, k=key: k, (self,))
        return
    for i in range(len(value)):
        yield _getitem(self, i)


def _method(self: Node, name: str) -> Callable[..., Node]:
    doc = (getattr(getattr(self._value, name, None), "__doc__", None) or "").strip().split("\n")[0]
    op = Op(name, f"[{name}] x.{name}(...): {doc}")

    def call(*args: Any, **kwargs: Any) -> Node:
        return apply(op, lambda v, *a, **k: getattr(v, name)(*a, **k), (self, *args), kwargs)

    return call


def _getattr(self: Node, name: str) -> Any:
    """Attribute access is traced; known methods become one op per call, other callables a `call` op."""
    if name.startswith("_"):
        raise AttributeError(name)
    value = object.__getattribute__(self, "_value")
    if not hasattr(value, name):
        raise AttributeError(f"{type(self).__name__} {self.name!r} has a value of type "
                             f"{type(value).__name__}, which has no attribute {name!r}")
    if name in TRACED_METHODS and callable(getattr(value, name)):
        return _method(self, name)
    return apply(_GETATTR, getattr, (self, name))


def _call(self: Node, *args: Any, **kwargs: Any) -> Node:
    return apply(_CALL, lambda f, *a, **k: f(*a, **k), (self, *args), kwargs)


def _len(self: Node) -> Node:
    """`len(node)` must return an int in Python; `node.len()` is the traced version."""
    return apply(_LEN, len, (self,))


_install()
Node.__getitem__ = _getitem  # type: ignore[method-assign]
Node.__iter__ = _iter  # type: ignore[method-assign]
Node.__getattr__ = _getattr  # type: ignore[attr-defined]
Node.__call__ = _call  # type: ignore[operator]
Node.len = _len  # type: ignore[attr-defined]
