"""A design: an agent written as Python source with a `forward(task)`, plus where it came from and its score."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from backprose.search.fitness import Fitness


@dataclass
class Design:
    """One archive entry. `fitness` is None for a design that still failed after its debug rounds."""

    name: str
    thought: str
    code: str
    id: int = -1
    generation: int = 0
    operator: str = "seed"
    """How it was made: "seed", "mutate" (one parent), "crossover" (two) or "novel" (none)."""
    parents: list[int] = field(default_factory=list)
    fitness: Fitness | None = None
    scores: list[float] = field(default_factory=list)
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """Each evaluation tried: {"stage": "proposal" | "debug N", "error": text or None}."""
    usage: dict[str, int] = field(default_factory=dict)
    """Model calls spent on this design: meta_calls (writing it) and agent_calls (evaluating it)."""

    @property
    def ok(self) -> bool:
        return self.fitness is not None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "thought": self.thought, "code": self.code,
                "generation": self.generation, "operator": self.operator, "parents": list(self.parents),
                "fitness": self.fitness.as_dict() if self.fitness else None, "scores": list(self.scores),
                "error": self.error, "attempts": list(self.attempts), "usage": dict(self.usage)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Design:
        fitness = Fitness.from_dict(data["fitness"]) if data.get("fitness") else None
        return cls(name=data["name"], thought=data.get("thought", ""), code=data["code"], id=data.get("id", -1),
                   generation=data.get("generation", 0), operator=data.get("operator", "seed"),
                   parents=list(data.get("parents") or []), fitness=fitness, scores=list(data.get("scores") or []),
                   error=data.get("error"), attempts=list(data.get("attempts") or []),
                   usage=dict(data.get("usage") or {}))

    def prompts(self) -> dict[str, str]:
        """The design's tunable prompts (see `prompts_of`)."""
        return prompts_of(self.code)

    def __str__(self) -> str:
        score = str(self.fitness) if self.fitness else f"failed: {self.error}"
        return f"#{self.id} {self.name} [{self.operator}] {score}"


def prompts_of(code: str) -> dict[str, str]:
    """Prompts a design declares: entries of a module-level `PROMPTS = {"key": "text"}` dict (as
    "PROMPTS.key") and module-level UPPER_CASE string constants (by name). Parsed, never executed."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name == "PROMPTS" and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if _is_str(key) and _is_str(value):
                    found[f"PROMPTS.{key.value}"] = value.value  # type: ignore[union-attr]
        elif name.isupper() and _is_str(node.value):
            found[name] = node.value.value  # type: ignore[attr-defined]
    return found


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
