"""The systems the suite compares: each trains the same program (`bench/suite/program.py`) on a task's train
and validation splits, at the budgets in `Env`, and hands back a `Final` that the suite scores on test.

A system registers itself in `SYSTEMS` by name (see `base.register`); peers that are not installed are
left out with a logged reason rather than failing the run.
"""

from bench.suite.systems.base import SYSTEMS, Env, System, register

__all__ = ["SYSTEMS", "Env", "System", "register"]
