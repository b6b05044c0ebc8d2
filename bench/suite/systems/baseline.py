"""`baseline`: the task's initial instruction, untrained. Every other row is read against it."""

from __future__ import annotations

from typing import Any

from bench.suite.program import Final
from bench.suite.systems.base import Env, register


@register("baseline")
class Baseline:
    """Makes no call: the program as every system starts it."""

    name = "baseline"

    def fit(self, task: Any, env: Env, seed: int) -> Final:
        return Final(task.instruction)
