"""Write an optimized module back out as Python source.

The class's own source is rewritten: each trainable method takes its current code, and each
`self.x = bp.param(<value>, ...)` takes the current value. Parameters that the class source does not spell
out (those of sub-modules built elsewhere) are carried in a JSON state block applied by `build()`.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from typing import Any

import numpy as np

_PARAM_CALLS = {"param", "Parameter"}


def _literal(value: Any) -> ast.expr:
    if isinstance(value, np.ndarray):
        return ast.parse(f"np.array({value.tolist()!r}, dtype={str(value.dtype)!r})", mode="eval").body
    return ast.parse(repr(value), mode="eval").body


def _is_param_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in _PARAM_CALLS


class _Rewriter(ast.NodeTransformer):
    def __init__(self, module: Any) -> None:
        self.module = module
        self.written: set[str] = set()
        self.methods: dict[str, Any] = {}
        for name, p in module.named_parameters():
            if name.endswith(".code") and name.count(".") == 1:
                self.methods[name.split(".")[0]] = p

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:  # noqa: N802
        code = self.methods.get(node.name)
        if code is not None:
            new = ast.parse(code.value).body
            func = next(n for n in new if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                        and n.name == node.name)
            func.decorator_list = node.decorator_list
            self.written.add(f"{node.name}.code")
            return func
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]  # noqa: N815

    def visit_Assign(self, node: ast.Assign) -> ast.AST:  # noqa: N802
        target = node.targets[0] if len(node.targets) == 1 else None
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == "self" and _is_param_call(node.value)):
            p = vars(self.module).get(target.attr)
            if p is not None and hasattr(p, "value_type"):
                node.value.args[0] = _literal(p._value)
                self.written.add(target.attr)
        return node


def _sibling_imports(cls: type, class_tree: ast.AST, file_tree: ast.Module) -> list[str]:
    """Names the class uses that its own file defines (other classes, helpers): import them from there."""
    defined = {n.name for n in file_tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    defined |= {t.id for n in file_tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    used = {n.id for n in ast.walk(class_tree) if isinstance(n, ast.Name)} & defined - {cls.__name__}
    if not used:
        return []
    if cls.__module__ == "__main__":
        return [f"# defined beside {cls.__name__} in the original script: {', '.join(sorted(used))}"]
    return [f"from {cls.__module__} import {', '.join(sorted(used))}"]


def export_module(module: Any) -> str:
    cls = type(module)
    try:
        file_source = inspect.getsource(inspect.getmodule(cls))
        class_source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError) as exc:
        raise TypeError(f"cannot read the source of {cls.__name__} ({exc}); export needs the class to be "
                        "defined in a file") from None
    rewriter = _Rewriter(module)
    tree = rewriter.visit(ast.parse(class_source))
    file_tree = ast.parse(file_source)
    imports = [ast.unparse(n) for n in file_tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    imports += _sibling_imports(cls, tree, file_tree)
    from backprose.module import encode

    rest = {name: encode(p) for name, p in module.named_parameters() if name not in rewriter.written}
    parts = [f'"""{cls.__name__}, exported by backprose with its optimized parameters."""', "",
             *imports, "", "", ast.unparse(tree), ""]
    if rest:
        parts += ["", f"STATE = json.loads({json.dumps(json.dumps(rest, indent=1))})", "", "",
                  f"def build() -> {cls.__name__}:",
                  f'    """A {cls.__name__} with every optimized value, including those of sub-modules."""',
                  f"    module = {cls.__name__}()", "    module.load_state_dict(STATE, strict=False)",
                  "    return module", ""]
        if "import json" not in imports:
            parts.insert(2, "import json")
    return "\n".join(parts)
