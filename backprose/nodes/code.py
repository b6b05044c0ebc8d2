"""Code as a trainable parameter: the source of a function an optimizer may rewrite.

A new source is accepted only if it parses, defines the same function with the same signature, and
compiles. Code that did not come from the user's own file is marked `optimized`; the bundle then runs it
isolated (see `backprose.isolation`) unless the user opted out.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
from collections.abc import Callable
from typing import Any

from backprose.errors import InvalidUpdate
from backprose.nodes.parameter import Parameter


def function_source(fn: Callable[..., Any]) -> str:
    """The dedented source of `fn` without its decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise TypeError(f"cannot read the source of {fn!r} ({exc}); a trainable function must be defined "
                        "in a file, not typed at an interactive prompt") from None
    tree = ast.parse(source)
    node = tree.body[0]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
        lines = source.splitlines(keepends=True)
        start = node.lineno - 1
        source = "".join(lines[start:])
    return source


def _signature(args: ast.arguments) -> str:
    """The shape of a signature: names, kinds and how many defaults, ignoring annotations."""
    def names(items: list[ast.arg]) -> list[str]:
        return [a.arg for a in items]
    return repr((names(args.posonlyargs), names(args.args), args.vararg and args.vararg.arg,
                 names(args.kwonlyargs), args.kwarg and args.kwarg.arg, len(args.defaults),
                 [d is not None for d in args.kw_defaults]))


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


class CodeParameter(Parameter):
    """The source of one function. `origin` is "user" until an update replaces it, then "optimized"."""

    kind = "parameter"
    __slots__ = ("func_name", "signature", "signature_text", "origin", "is_async", "user_source", "_compiled")

    def __init__(self, fn: Callable[..., Any], name: str | None = None, description: str = "",
                 **options: Any) -> None:
        source = function_source(fn)
        tree = ast.parse(source)
        func = _find_function(tree, fn.__name__)
        if func is None:
            raise TypeError(f"{fn.__name__} is not a def statement (a lambda cannot be trainable code)")
        self.func_name = fn.__name__
        self.signature = _signature(func.args)
        self.signature_text = ast.unparse(func.args)
        self.is_async = isinstance(func, ast.AsyncFunctionDef)
        self.origin = "user"
        self._compiled: dict[str, Any] = {}
        super().__init__(source, name or f"{fn.__name__}.code", description or (inspect.getdoc(fn) or ""),
                         **options)
        self.user_source = self._value
        self.origin = "user"

    def _type_of(self, value: Any) -> str:
        return "code"

    def _coerce(self, new: Any) -> str:
        if not isinstance(new, str):
            raise InvalidUpdate(f"{self.name} is code; got {type(new).__name__}. Pass the source as a str.")
        source = textwrap.dedent(new).strip("\n") + "\n"
        try:
            tree = ast.parse(source, filename=f"<{self.name}>")
        except SyntaxError as exc:
            raise InvalidUpdate(f"{self.name}: the new code does not parse: {exc.msg} at line "
                                f"{exc.lineno}: {(exc.text or '').strip()}") from None
        func = _find_function(tree, self.func_name)
        if func is None:
            raise InvalidUpdate(f"{self.name}: the new code must define `def {self.func_name}(...)` at top "
                                "level; keep the function's name")
        if _signature(func.args) != self.signature:
            raise InvalidUpdate(f"{self.name}: the new code changes the signature of {self.func_name}; "
                                f"keep the parameters exactly `({self.signature_text})`")
        if isinstance(func, ast.AsyncFunctionDef) != self.is_async:
            raise InvalidUpdate(f"{self.name}: keep {self.func_name} {'async' if self.is_async else 'sync'}")
        try:
            compile(tree, f"<{self.name}>", "exec")
        except (SyntaxError, ValueError) as exc:
            raise InvalidUpdate(f"{self.name}: the new code does not compile: {exc}") from None
        return source

    def assign(self, value: Any) -> None:
        """The one write; code that is not the user's own source is marked `optimized` (run isolated)."""
        self._value = value
        self.origin = "user" if value == self.user_source else "optimized"

    def compiled(self, namespace: dict[str, Any]) -> Callable[..., Any]:
        """The current source as a function, built in a copy of `namespace` (its original globals)."""
        source = self._value
        fn = self._compiled.get(source)
        if fn is None:
            scope = dict(namespace)
            filename = f"<{self.name}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
            exec(compile(source, filename, "exec"), scope)
            fn = scope[self.func_name]
            self._compiled = {source: fn}
        return fn
