"""The LLM layer sits at the bottom: it must never import tracing, nodes or optimizers."""

import ast
from pathlib import Path

import backprose.llm

FORBIDDEN = ("backprose.trace", "backprose.nodes", "backprose.optimizers", "backprose.module")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_llm_never_imports_higher_layers():
    root = Path(backprose.llm.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in root.rglob("*.py")
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN)
    }
    assert offenders == set()
