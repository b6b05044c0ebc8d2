"""Applying an op: unwrap node arguments, run on raw values, wrap the result with its provenance."""

from __future__ import annotations

import linecache
import traceback
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any, NoReturn

from backprose.context import _conditions, _scope_path, _tracing
from backprose.errors import ExecutionError
from backprose.nodes.message import ErrorNode, Message, Op
from backprose.nodes.node import Node
from backprose.steps import Steps


def unique_nodes(candidates: Iterable[Any]) -> tuple[Node, ...]:
    """Nodes among `candidates`, first occurrence kept, by identity (nodes compare with a traced `==`)."""
    seen: set[int] = set()
    out = []
    for c in candidates:
        if isinstance(c, Node) and id(c) not in seen:
            seen.add(id(c))
            out.append(c)
    return tuple(out)


def make_message(value: Any, op: Op, parents: tuple[Node, ...]) -> Node:
    """Wrap a result: a Message when tracing, a constant when not (like a tensor made under no_grad)."""
    if not _tracing.get():
        return Node(value, name=op.name)
    return Message(value, op, parents, _conditions.get() or (), _scope_path.get())


def raise_error(exc: BaseException, op: Op, parents: tuple[Node, ...], code: CodeType | None = None) -> NoReturn:
    """Turn an exception into an ErrorNode in the graph and raise it as ExecutionError."""
    text = describe_exception(exc, code)
    node = ErrorNode(exc, text, op, parents, _conditions.get() or (), _scope_path.get())
    raise ExecutionError(node) from exc


def apply(op: Op, fn: Callable[..., Any], args: tuple, kwargs: dict | None = None) -> Node:
    """Run `fn` on the raw values of `args`/`kwargs`; the node arguments become the result's parents.

    Operators call this on every traced op, so it makes its call directly; `applying` is the same with the
    call left to a sync or async driver."""
    raw_args, raw_kwargs, parents = _split(args, kwargs)
    try:
        result = fn(*raw_args, **raw_kwargs)
    except Exception as exc:
        _failed(exc, op, parents)
    return make_message(result, op, parents)


def applying(op: Op, call: Callable[..., tuple], args: tuple, kwargs: dict | None = None, *,
             reply: Callable[[Any], Any] | None = None) -> Steps[Node]:
    """`apply` as steps (see `backprose.steps`): `call(*raw_args, **raw_kwargs)` gives the `Call` to make,
    and `reply` (if given) turns what it returns into the op's value."""
    raw_args, raw_kwargs, parents = _split(args, kwargs)
    try:
        result = yield call(*raw_args, **raw_kwargs)
        if reply is not None:
            result = reply(result)
    except Exception as exc:
        _failed(exc, op, parents)
    return make_message(result, op, parents)


def _split(args: tuple, kwargs: dict | None) -> tuple[list, dict, tuple[Node, ...]]:
    """Raw argument values, and the node arguments as parents."""
    if not kwargs:
        return [a._value if isinstance(a, Node) else a for a in args], {}, unique_nodes(args)
    raw_kwargs = {k: (v._value if isinstance(v, Node) else v) for k, v in kwargs.items()}
    return [a._value if isinstance(a, Node) else a for a in args], raw_kwargs, unique_nodes((*args, *kwargs.values()))


def _failed(exc: Exception, op: Op, parents: tuple[Node, ...]) -> NoReturn:
    """An op raised: untraced, the exception goes on as it is; traced, it becomes an ErrorNode."""
    if not _tracing.get():
        raise exc
    raise_error(exc, op, parents)


def describe_exception(exc: BaseException, code: CodeType | None = None) -> str:
    """`ValueError: bad input` plus the failing source line: what an optimizer needs to fix the code."""
    prepared = getattr(exc, "feedback_text", None)
    if prepared:
        return prepared
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if code is not None:
        frames = [f for f in frames if f.filename == code.co_filename and f.name == code.co_name] or frames
    if frames:
        last = frames[-1]
        line = last.line or linecache.getline(last.filename, last.lineno or 0).strip()
        if line:
            text += f"\n  at line {last.lineno} of {last.name}: {line}"
    return text
