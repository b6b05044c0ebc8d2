"""`ScriptedOptimizer`: a test double that proposes values from a list or a function, with no model.

It records the feedback each step saw, so tests can check what the trainer passed backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal

Suggestions = dict[str, Any]


class ScriptedOptimizer(Optimizer):
    """Proposals by parameter name: `script` is a list consumed in order (one item per proposal), or
    `fn(optimizer, n) -> list[dict]`. An exhausted list proposes nothing."""

    def __init__(self, parameters: Iterable[Parameter], script: Sequence[Suggestions] |
                 Callable[[ScriptedOptimizer, int], list[Suggestions]], **defaults: Any) -> None:
        super().__init__(parameters, llm=False, **defaults)
        self._fn = script if callable(script) else None
        self._script = [] if callable(script) else list(script)
        self.position = 0
        self.seen: list[list[str]] = []

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        params = {p.name: p for p in self.parameters}
        self.seen.append([fb.text for p in self.parameters for fb in p.feedback])
        if self._fn is not None:
            items = self._fn(self, n)
            self.position += len(items)
        else:
            items = self._script[self.position: self.position + n]
            self.position += len(items)
        return [Proposal({params[name]: value for name, value in item.items()}, reasoning="scripted")
                for item in items]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "position": self.position}

    def load_state_dict(self, state: Any) -> None:
        self.position = int(state.get("position", 0))
