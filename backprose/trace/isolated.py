"""Running optimized code in a worker process: what crosses the boundary and what comes back.

Only plain data crosses: the current source, the raw argument values, the plain-data globals the source
names, and the modules it uses. A method's `self` crosses as a snapshot of its plain attributes (parameters
appear as objects with `.value`). The return value comes back as data (see `backprose.isolation.wire`), never
as a pickle. Failures come back as an exception whose `feedback_text` is what the optimizer reads: the
error, and the failing line of the optimized source.
"""

from __future__ import annotations

import ast
import types
from typing import Any

from backprose.context import note_read
from backprose.nodes.code import CodeParameter
from backprose.nodes.node import Node

_PLAIN = (str, int, float, bool, type(None), list, dict, tuple)


class IsolatedCodeFailed(Exception):
    """Optimized code failed in its worker; `feedback_text` explains how, for the optimizer."""

    def __init__(self, feedback_text: str) -> None:
        super().__init__(feedback_text)
        self.feedback_text = feedback_text


class Snapshot:
    """`self` as seen by isolated code: attribute reads work, parameters keep `.value`."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.__dict__.update(attrs)


class Value:
    """A parameter's value in a snapshot; behaves like the node for `.value`, `str()` and f-strings."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def _names(source: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}


def _environment(source: str, fn_globals: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Plain-data globals and modules ("numpy as np") that the source refers to."""
    plain: dict[str, Any] = {}
    modules: list[str] = []
    for name in _names(source):
        if name not in fn_globals:
            continue
        value = fn_globals[name]
        if isinstance(value, types.ModuleType):
            modules.append(value.__name__ if value.__name__ == name else f"{value.__name__} as {name}")
        elif isinstance(value, Node):
            note_read(value)
            plain[name] = Value(value._value)
        elif isinstance(value, _PLAIN):
            plain[name] = value
    return plain, modules


def _self_attributes(source: str) -> set[str]:
    return {n.attr for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"}


def _snapshot(instance: Any, source: str) -> Snapshot:
    """Plain attributes of `self`; the nodes the source reads (`self.x`) are recorded as parents."""
    used = _self_attributes(source)
    attrs: dict[str, Any] = {}
    for key, value in vars(instance).items():
        if isinstance(value, Node):
            if key in used:
                note_read(value)
            attrs[key] = Value(value._value)
        elif isinstance(value, _PLAIN):
            attrs[key] = value
    return Snapshot(attrs)


_ASYNC_SHIM = """

def __backprose_run_async(*args, **kwargs):
    import asyncio
    return asyncio.run({name}(*args, **kwargs))
"""


def _request(code: CodeParameter, fn: Any, instance: Any, args: list, kwargs: dict) -> dict[str, Any]:
    """The sandbox call for the current code; async code runs to completion in the worker's own loop."""
    plain, modules = _environment(code.value, fn.__globals__)
    full_args = (_snapshot(instance, code.value), *args) if instance is not None else tuple(args)
    source, func_name = code.value, code.func_name
    if code.is_async:
        source, func_name = source + _ASYNC_SHIM.format(name=func_name), "__backprose_run_async"
    return {"source": source, "func_name": func_name, "args": full_args, "kwargs": kwargs,
            "filename": f"<{code.name}>", "globals": plain, "modules": modules}


def _outcome(result: Any, code: CodeParameter) -> Any:
    if result.ok:
        return result.value
    if result.timed_out:
        text = (f"TimeoutError: the code of {code.func_name} did not finish within the isolation time limit "
                f"({result.wall_time:.1f} s); it may loop forever or do far too much work")
    elif result.memory_exceeded:
        text = f"MemoryError: the code of {code.func_name} exceeded the isolation memory limit"
    elif result.error_type:
        text = f"{result.error_type}: {result.error_message}"
        if result.source_line:
            text += f"\n  at line {result.lineno} of {code.func_name}: {result.source_line.strip()}"
    else:
        text = f"the worker running {code.func_name} died (exit code {result.exit_code})"
    raise IsolatedCodeFailed(text)


def run_isolated(code: CodeParameter, fn: Any, instance: Any, args: list, kwargs: dict,
                 limits: Any = None) -> Any:
    from backprose.isolation import default_sandbox

    request = _request(code, fn, instance, args, kwargs)
    return _outcome(default_sandbox().run(**request, limits=limits), code)


async def run_isolated_async(code: CodeParameter, fn: Any, instance: Any, args: list, kwargs: dict,
                             limits: Any = None) -> Any:
    from backprose.isolation import default_sandbox

    request = _request(code, fn, instance, args, kwargs)
    return _outcome(await default_sandbox().arun(**request, limits=limits), code)
