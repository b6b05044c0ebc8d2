"""`@bp.bundle`: turn a function into one traced op (or, with `traceable=True`, a visible subgraph).

The body of an opaque bundle sees raw values: node arguments are unwrapped before the call and the result
is wrapped after. Nodes the body reads from closures, globals or `self` (through `.value`, `str()` or an
f-string) are recorded and become parents too, so feedback reaches a prompt the function only captured.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from backprose.context import _reads, _tracing, current_conditions, current_scope_path, scope
from backprose.errors import ExecutionError
from backprose.nodes.apply import make_message, raise_error, unique_nodes
from backprose.nodes.code import CodeParameter
from backprose.nodes.message import Message, Op
from backprose.nodes.node import Node
from backprose.steps import Call, Steps, arun, run
from backprose.trace.isolated import run_isolated, run_isolated_async


def bundle(
    description: str | Callable[..., Any] | None = None,
    *,
    traceable: bool = False,
    trainable: bool = False,
    name: str | None = None,
    isolated: bool = True,
    limits: Any = None,
) -> Any:
    """Decorate a function (sync or async), a method or a lambda so each call becomes a node in the graph.

    - `description`: what the op does, for optimizers (defaults to the docstring);
    - `traceable`: run the body on nodes, so its inner ops show as a subgraph with branch conditions kept;
    - `trainable`: the source itself is a code `Parameter` (`fn.code`) that optimizers may rewrite;
    - `isolated`: run optimized code in a worker process under `limits` (default True; False trades safety
      for speed when you trust the optimizer's output).
    """
    if callable(description):
        return Bundle(description)

    def decorate(fn: Callable[..., Any]) -> Bundle:
        return Bundle(fn, description=description, traceable=traceable, trainable=trainable, name=name,
                      isolated=isolated, limits=limits)

    return decorate


class Bundle:
    """A traced function. As a class attribute it binds like a method; its code parameter is per instance."""

    def __init__(self, fn: Callable[..., Any], *, description: str | None = None, traceable: bool = False,
                 trainable: bool = False, name: str | None = None, isolated: bool = True,
                 limits: Any = None) -> None:
        if traceable and trainable:
            raise ValueError("a bundle is either traceable (its body is traced) or trainable (its source is "
                             "a parameter), not both; pick one")
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        self.fn = fn
        op_name = name or (fn.__name__ if fn.__name__ != "<lambda>" else "lambda")
        self.op = Op(op_name, description or inspect.getdoc(fn) or "")
        self.traceable = traceable
        self.trainable = trainable
        self.isolated = isolated
        self.limits = limits
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        self._arg_names = [p.name for p in self.signature.parameters.values()
                           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._is_method = bool(self._arg_names) and self._arg_names[0] == "self"
        self._code = CodeParameter(fn) if trainable and not self._is_method else None
        self._attr = f"_bp_code_{fn.__name__}"

    # --- binding and code parameters ----------------------------------------------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self._attr = f"_bp_code_{name}"

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BoundBundle(self, instance)

    @property
    def code(self) -> CodeParameter:
        if self._code is None:
            raise AttributeError(f"{self.op.name} is not trainable; use @bp.bundle(trainable=True)"
                                 if not self.trainable else
                                 f"{self.op.name} is a method: its code belongs to an instance, use obj."
                                 f"{self.op.name}.code")
        return self._code

    def code_of(self, instance: Any) -> CodeParameter | None:
        """The instance's own copy of the method's code parameter, created on first use."""
        if not self.trainable:
            return None
        if instance is None:
            return self._code
        code = instance.__dict__.get(self._attr)
        if code is None:
            code = CodeParameter(self.fn, name=f"{self.op.name}.code")
            instance.__dict__[self._attr] = code
        return code

    # --- calling -------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(None, args, kwargs)

    def call(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        steps = self._steps(instance, args, kwargs)
        return arun(steps) if self.is_async else run(steps)

    def _steps(self, instance: Any, args: tuple, kwargs: dict) -> Steps[Node]:
        """One call, sync or async: the body is the one `yield`, everything around it is shared."""
        tracing = _tracing.get()
        full_args = (instance, *args) if instance is not None else args
        if self.traceable and tracing:
            return (yield from self._traced_steps(full_args, kwargs))
        code = self.code_of(instance) if self.trainable else None
        inputs = self._inputs(full_args, kwargs) if tracing else ()
        # The body runs untraced while recording the nodes it reads.
        reads: list = []
        reads_token, tracing_token = _reads.set(reads), _tracing.set(False)
        try:
            if code is not None and code.origin != "user":
                result = yield self._optimized_call(code, instance, args, kwargs)
            else:
                result = yield Call(self.fn, self.fn, _raw_args(full_args), _raw_kwargs(kwargs))
        except Exception as exc:
            if not tracing:
                raise
            raise_error(exc, self.op, self._parents(inputs, reads, code), self.fn.__code__)
        finally:
            _tracing.reset(tracing_token)
            _reads.reset(reads_token)
        return self._wrap(result, inputs, reads, code, tracing)

    def _traced_steps(self, full_args: tuple, kwargs: dict) -> Steps[Node]:
        node_args, node_kwargs = self._as_nodes(full_args), self._as_node_kwargs(kwargs)
        inputs = self._inputs(tuple(node_args), node_kwargs)
        with scope(self.op.name):
            try:
                result = yield Call(self.fn, self.fn, node_args, node_kwargs)
            except ExecutionError:
                raise
            except Exception as exc:
                raise_error(exc, self.op, inputs, self.fn.__code__)
            conditions = current_conditions()
        return self._wrap_traced(result, inputs, conditions)

    def _wrap_traced(self, result: Any, inputs: tuple[Node, ...], conditions: tuple[Node, ...]) -> Node:
        """The body's result, made to depend on every condition that steered the body to it.

        A node computed after those conditions already has them as control parents and is returned as it
        is. A literal, a container, an input, or a node computed before a test gets one node of this op
        on top, whose control parents are the conditions: otherwise the branch choice would be lost.
        """
        if isinstance(result, Node):
            if all(any(c is k for k in result.control) for c in conditions):
                return result
            parents: tuple[Node, ...] = (result,)
        else:
            found: list[Node] = []
            result = _collect(result, found)
            parents = unique_nodes(found) if found else inputs
        control = tuple(c for c in conditions if not any(c is p for p in parents))
        return Message(result._value if isinstance(result, Node) else result, self.op, parents, control,
                       current_scope_path())

    def _wrap(self, result: Any, inputs: tuple[Node, ...], reads: list, code: CodeParameter | None,
              tracing: bool) -> Node:
        if isinstance(result, Node):
            reads.append(result)
            result = result._value
        if not tracing:
            return Node(result, name=self.op.name)
        return make_message(result, self.op, self._parents(inputs, reads, code))

    @staticmethod
    def _parents(inputs: tuple[Node, ...], reads: list, code: CodeParameter | None) -> tuple[Node, ...]:
        extra = (code,) if code is not None else ()
        if not reads and not extra:
            return inputs
        return unique_nodes((*inputs, *reads, *extra))

    # --- arguments -----------------------------------------------------------------------------------
    def _inputs(self, full_args: tuple, kwargs: dict) -> tuple[Node, ...]:
        """Node arguments, nodes inside list/tuple/dict arguments, and plain arguments as named constants.

        `self` is not an input: the nodes a method reads from it are recorded as reads instead.
        """
        names = self._arg_names
        found: list[Node] = []
        items = [(names[i] if i < len(names) else f"arg{i}", v) for i, v in enumerate(full_args)]
        if self._is_method:
            items = items[1:]
        for name, value in (*items, *kwargs.items()) if kwargs else items:
            if isinstance(value, Node):
                found.append(value)
            elif isinstance(value, list | tuple | dict) and not _is_plain_container(value):
                found.extend(v for v in (value.values() if isinstance(value, dict) else value)
                             if isinstance(v, Node))
            else:
                found.append(Node(value, name=name))
        return unique_nodes(found) if len(found) > 1 else tuple(found)

    def _as_nodes(self, full_args: tuple) -> list[Any]:
        """Arguments for a traceable body: plain values as named constants; nodes, and containers holding
        nodes, as they are. The body and the graph then see the very same nodes."""
        start = 1 if self._is_method else 0
        names = self._arg_names
        return [a if i < start or _holds_nodes(a) else Node(a, name=names[i] if i < len(names) else f"arg{i}")
                for i, a in enumerate(full_args)]

    @staticmethod
    def _as_node_kwargs(kwargs: dict) -> dict[str, Any]:
        return {k: v if _holds_nodes(v) else Node(v, name=k) for k, v in kwargs.items()}

    # --- optimized code runs isolated ----------------------------------------------------------------
    def _optimized_call(self, code: CodeParameter, instance: Any, args: tuple, kwargs: dict) -> tuple:
        if not self.isolated:
            fn = code.compiled(self.fn.__globals__)
            full = (instance, *args) if instance is not None else args
            return Call(fn, fn, _raw_args(full), _raw_kwargs(kwargs))
        return Call(run_isolated, run_isolated_async,
                    (code, self.fn, instance, _raw_args(args), _raw_kwargs(kwargs), self.limits))

    def __repr__(self) -> str:
        return f"<bundle {self.op.name}>"


class BoundBundle:
    """A bundle bound to an instance: `obj.method(...)` and `obj.method.code`."""

    __slots__ = ("bundle", "instance")

    def __init__(self, bundle: Bundle, instance: Any) -> None:
        self.bundle = bundle
        self.instance = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.bundle.call(self.instance, args, kwargs)

    @property
    def code(self) -> CodeParameter:
        code = self.bundle.code_of(self.instance)
        if code is None:
            raise AttributeError(f"{self.bundle.op.name} is not trainable; use @bp.bundle(trainable=True)")
        return code

    def __repr__(self) -> str:
        return f"<bound bundle {self.bundle.op.name} of {type(self.instance).__name__}>"


def _holds_nodes(value: Any) -> bool:
    return isinstance(value, Node) or isinstance(value, list | tuple | dict) and not _is_plain_container(value)


def _is_plain_container(value: Any) -> bool:
    """A list/tuple/dict with no nodes inside is an ordinary constant argument."""
    if isinstance(value, dict):
        return not any(isinstance(v, Node) for v in value.values())
    if isinstance(value, list | tuple):
        return not any(isinstance(v, Node) for v in value)
    return False


def _collect(value: Any, found: list[Node]) -> Any:
    """`value` with the nodes inside lists, tuples and dicts replaced by their values; the nodes go to `found`."""
    if isinstance(value, Node):
        found.append(value)
        return value._value
    if isinstance(value, list | tuple):
        items = [_collect(v, found) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _collect(v, found) for k, v in value.items()}
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Node):
        return value._value
    if isinstance(value, list) and any(isinstance(v, Node) for v in value):
        return [_unwrap(v) for v in value]
    if isinstance(value, tuple) and any(isinstance(v, Node) for v in value):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, dict) and any(isinstance(v, Node) for v in value.values()):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _raw_args(args: tuple) -> list[Any]:
    return [a._value if isinstance(a, Node) else _unwrap(a) if isinstance(a, list | tuple | dict) else a
            for a in args]


def _raw_kwargs(kwargs: dict) -> dict[str, Any]:
    return {k: _unwrap(v) for k, v in kwargs.items()}
