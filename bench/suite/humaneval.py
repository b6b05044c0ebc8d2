"""HumanEval: 164 Python functions to write, each checked by running its own tests in backprose's sandbox.

A candidate is the program's output: a whole function (`def entry_point(...)`, imports and helpers as it
likes) or only the body that completes the prompt, optionally inside a Markdown code fence. It never runs
in the caller's process: the tests run in a strict sandbox worker (private working directory, scrubbed
environment) under a time limit.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from pathlib import Path
from typing import Any

from backprose.data import Dataset, Example
from backprose.isolation import Limits, Sandbox
from backprose.train.guides import Judgement

INSTRUCTION = "Write the complete Python function described below. Reply with the code only."

_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.DOTALL)


def _problems(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(path: Path) -> Dataset:
    """Every problem as an example: input is the prompt (signature and docstring); target holds the tests.

    The reference solutions stay out of the examples, so nothing that shows examples can reveal them.
    """
    return Dataset([Example(p["prompt"], {"test": p["test"], "entry_point": p["entry_point"]}, p["task_id"])
                    for p in _problems(path)], "humaneval")


def canonical_solutions(path: Path) -> dict[str, str]:
    """The reference solution (a body completing the prompt) of each problem, by id: for checking the checker."""
    return {p["task_id"]: p["canonical_solution"] for p in _problems(path)}


def program_source(candidate: str, example: Example) -> str:
    """The prompt (its imports and helpers), then the candidate, then the tests and a call that runs them."""
    code = _code(candidate)
    entry = example.target["entry_point"]
    # A whole function redefines the prompt's stub; a body completes the prompt's open definition.
    joined = f"{example.input}\n\n{code}" if re.search(rf"^\s*def {re.escape(entry)}\(", code, re.M) \
        else example.input + code
    return f"{joined}\n\n{example.target['test']}\n\ndef run_tests():\n    check({entry})\n    return True\n"


def _code(candidate: str) -> str:
    blocks = _FENCE.findall(candidate)
    return max(blocks, key=len) if blocks else candidate


class HumanEvalGuide:
    """A guide: 1.0 when every test of the problem passes, else 0.0 with the failure (line and error).

    Owns a strict sandbox, started on first use; `close()` (or leaving a `with` block) stops its workers.
    """

    __name__ = "humaneval_tests"

    def __init__(self, limits: Limits | None = None, workers: int = 1) -> None:
        self.limits = limits or Limits(wall_time=10.0)
        self.workers = workers
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()  # the trainer may call a guide from several threads

    def sandbox(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                self._sandbox = Sandbox(limits=self.limits, workers=self.workers, strict=True)
            return self._sandbox

    def __call__(self, output: Any, example: Example) -> Judgement:
        res = self.sandbox().run(program_source(str(output or ""), example), "run_tests", filename="<candidate>")
        if res.ok:
            return Judgement(1.0, "All tests pass.")
        return Judgement(0.0, f"The tests failed: {res.describe()}")

    def close(self) -> None:
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()

    def __enter__(self) -> HumanEvalGuide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
