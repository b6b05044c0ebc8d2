"""What a system is to the suite: a name and `fit(task, env, seed) -> Final`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.suite.program import OPTIMIZER_MODEL, OPTIMIZER_TEMPERATURE, PROGRAM_MODEL, PROGRAM_TEMPERATURE, Final


@dataclass(frozen=True)
class Env:
    """Where and how much a system may run.

    Every request goes to `base_url` (the suite's counting proxy, which routes by model name, pins the
    temperatures and counts calls per system). `program_calls` and `optimizer_calls` are the budgets: the
    number of requests to the program model (rollouts, validation, candidate evaluation) and to the
    optimizer model (proposals, gradients, reflections) a system may make while training. Scoring the final
    program on test is the suite's, outside both budgets. `work_dir` is the system's own folder for logs.
    """

    base_url: str
    api_key: str = "local"
    program_model: str = PROGRAM_MODEL
    optimizer_model: str = OPTIMIZER_MODEL
    program_temperature: float = PROGRAM_TEMPERATURE
    optimizer_temperature: float = OPTIMIZER_TEMPERATURE
    program_calls: int = 120
    optimizer_calls: int = 12
    work_dir: Path | None = None


class System(Protocol):
    name: str

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        """Train on `task.train` (and `task.validation` for any decision); never look at `task.test`."""
        ...


SYSTEMS: dict[str, Callable[[], System]] = {}


def register(name: str) -> Callable[[Callable[[], System]], Callable[[], System]]:
    """Add a system factory under `name` (a factory, so importing a peer happens only when it runs)."""

    def add(factory: Callable[[], System]) -> Callable[[], System]:
        SYSTEMS[name] = factory
        return factory

    return add
