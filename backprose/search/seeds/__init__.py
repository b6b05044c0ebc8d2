"""Hand-written baseline designs: ordinary modules that are also the first entries of every archive."""

from __future__ import annotations

from importlib import resources

from backprose.search.design import Design

NAMES = ("chain_of_thought", "self_consistency", "self_refine", "debate", "step_back", "role_assignment")


def load(names: tuple[str, ...] | list[str] = NAMES) -> list[Design]:
    """The seed designs as `Design`s: the source text of each module, its docstring as the thought."""
    import ast

    out = []
    for name in names:
        code = resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
        thought = ast.get_docstring(ast.parse(code)) or name
        out.append(Design(name=name, thought=thought, code=code))
    return out
