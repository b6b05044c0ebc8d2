"""House rules that keep the code base readable: import direction, file size, a quiet import."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "backprose"
# Lower layers never import higher ones: the data path reads call -> graph -> backward -> optimizer.
FORBIDDEN = {
    "context": ("backprose.",),
    "steps": ("backprose.",),
    "nodes": ("backprose.trace.", "backprose.optimizers", "backprose.llm", "backprose.module", "backprose.agent",
              "backprose.train", "backprose.search", "backprose.networks"),
    "trace": ("backprose.optimizers", "backprose.llm", "backprose.train", "backprose.search",
              "backprose.networks", "backprose.agent"),
    "llm": ("backprose.trace", "backprose.nodes", "backprose.optimizers", "backprose.module", "backprose.agent"),
    "isolation": ("backprose.trace", "backprose.nodes", "backprose.optimizers", "backprose.llm"),
    "optimizers": ("backprose.train", "backprose.search", "backprose.networks", "backprose.cli"),
}
ALLOWED_EVEN_IF_FORBIDDEN = {"backprose.errors"}
# `node.backward()` is the PyTorch-shaped convenience; it delegates to trace at call time (a lazy import).
EXCEPTIONS = {("nodes/node.py", "backprose.trace.backward")}
MAX_LINES = 400
# Files allowed past the budget, each with its own cap and the reason.
OVER_BUDGET = {"errors.py": (600, "the one catalogue of error classes: every message and its fix in one place")}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def layer_files(layer: str) -> list[Path]:
    path = PACKAGE / layer
    return sorted(path.rglob("*.py")) if path.is_dir() else [PACKAGE / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(layer):
    offenders = sorted(
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in layer_files(layer)
        for name in imports_of(path)
        if name.startswith(FORBIDDEN[layer]) and name not in ALLOWED_EVEN_IF_FORBIDDEN
        and (str(path.relative_to(PACKAGE)), name) not in EXCEPTIONS
    )
    assert offenders == []


def test_no_module_is_over_the_size_budget():
    too_long = sorted(f"{p.relative_to(PACKAGE)}: {n} lines" for p in PACKAGE.rglob("*.py")
                      if (n := len(p.read_text().splitlines()))
                      > OVER_BUDGET.get(str(p.relative_to(PACKAGE)), (MAX_LINES,))[0])
    assert too_long == [], "split these modules by concept"


def test_importing_backprose_is_quiet(tmp_path):
    """No files, no output, no network: importing only defines things."""
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import backprose, backprose.llm, backprose.optimizers"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_test_file_names_are_unique():
    """Test folders are not packages, so two test files with one name would shadow each other."""
    names = [p.name for p in PACKAGE.parent.joinpath("tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
