"""Rollouts: run the program on examples concurrently and judge each output.

`rollouts` keeps the traced outputs (for backward) and runs in threads of this process, each in a copy of
the caller's context so the configured model and usage trackers follow. `evaluate` only needs scores, so
it takes any `concurrent.futures.Executor`: a thread pool here, or Dask's `Client.get_executor()` to fan
the examples out over many machines.
"""

from __future__ import annotations

import contextvars
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprose.context import no_trace
from backprose.data.dataset import Example
from backprose.errors import BackproseError, ExecutionError, InvalidMessages, LLMError, LLMFormatError, ProgramFailed
from backprose.nodes.node import Node
from backprose.train.guides import as_guide


@dataclass
class Rollout:
    """One example's run: the output node (None if the program returned a plain value) and its judgement."""

    example: Example
    output: Node | None
    text: str
    score: float
    feedback: str

    def as_dict(self) -> dict[str, Any]:
        return {"example": self.example.id, "output": self.text, "score": self.score, "feedback": self.feedback}


def _raise_if_infrastructure(exc: BaseException) -> None:
    """A model that cannot be reached is the run's problem, not a wrong answer: stop instead of scoring 0."""
    cause = exc.__cause__ if isinstance(exc, ExecutionError) else exc
    if isinstance(cause, LLMError) and not isinstance(cause, LLMFormatError | InvalidMessages):
        raise cause


def run_one(program: Callable[[Any], Any], example: Example, guide: Callable[[Any, Example], Any]) -> Rollout:
    """Run and judge one example. A traced op that raised becomes the output (its ErrorNode), scored 0."""
    judge = as_guide(guide)
    try:
        out = program(example.input)
    except ExecutionError as exc:
        _raise_if_infrastructure(exc)
        node = exc.node
        return Rollout(example, node, str(node.value), 0.0,
                       f"The program failed: {node.value}. Change it so this input runs without error.")
    except BackproseError:
        raise
    except Exception as exc:  # outside any bundle: no error node, so no feedback can reach a parameter
        raise ProgramFailed(example.id, exc, _user_frame(exc)) from exc
    judgement = judge(out, example)
    value = out.value if isinstance(out, Node) else out
    return Rollout(example, out if isinstance(out, Node) else None, "" if value is None else str(value),
                   float(judgement.score), judgement.feedback)


def _user_frame(exc: BaseException) -> str:
    """` (at file:line)` of the innermost frame outside backprose, where the user's code raised."""
    package = str(Path(__file__).resolve().parents[1])
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(package)]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def default_workers(llm: Any = None, concurrency: int | None = None) -> int:
    """Threads to use: `concurrency` if given, else the client's in-flight limit, else 8."""
    if concurrency:
        return max(1, int(concurrency))
    limit = getattr(llm, "max_concurrency", None)
    return max(1, int(limit)) if limit else 8


def rollouts(program: Callable[[Any], Any], examples: Sequence[Example], guide: Callable[[Any, Example], Any],
             *, concurrency: int = 8) -> list[Rollout]:
    """Traced rollouts of every example, concurrently, in the order of `examples`."""
    if concurrency <= 1 or len(examples) <= 1:
        return [run_one(program, ex, guide) for ex in examples]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(examples))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, run_one, program, ex, guide) for ex in examples]
        return [f.result() for f in futures]


def score_one(program: Callable[[Any], Any], example: Example, guide: Callable[[Any, Example], Any]) -> Rollout:
    """Untraced run and judgement of one example (no output node); a plain function so any executor can ship it."""
    with no_trace():
        try:
            out = program(example.input)
        except Exception as exc:  # untraced ops raise the original error
            _raise_if_infrastructure(exc)
            error = f"{type(exc).__name__}: {exc}"
            return Rollout(example, None, error, 0.0, f"The program failed: {error}")
        judgement = as_guide(guide)(out, example)
    value = out.value if isinstance(out, Node) else out
    return Rollout(example, None, "" if value is None else str(value), float(judgement.score), judgement.feedback)


def evaluate(program: Callable[[Any], Any], examples: Sequence[Example], guide: Callable[[Any, Example], Any],
             *, executor: Executor | None = None, concurrency: int = 8) -> list[Rollout]:
    """Every example's untraced run, judged, in order (`.score`, `.feedback`, `.text`: the output as text).
    With `executor`, each example is one submitted task."""
    if executor is None:
        if concurrency <= 1 or len(examples) <= 1:
            return [score_one(program, ex, guide) for ex in examples]
        with ThreadPoolExecutor(max_workers=min(concurrency, len(examples))) as pool:
            futures = [pool.submit(contextvars.copy_context().run, score_one, program, ex, guide)
                       for ex in examples]
            return [f.result() for f in futures]
    futures = [executor.submit(score_one, program, ex, guide) for ex in examples]
    return [f.result() for f in futures]
