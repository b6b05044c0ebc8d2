"""Checkpoints and the rollout journal of a run folder.

`checkpoint.json` is rewritten atomically after every step: parameters (current and best), optimizer and
strategy state, the RNG, what was spent, the history and the event log's length. `rollouts.jsonl` gets a
line the moment any rollout is judged, so a resumed run never redoes a finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from backprose.errors import CheckpointError
from backprose.llm.cache import canonical_json
from backprose.module import atomic_write_json

CHECKPOINT = "checkpoint.json"
JOURNAL = "rollouts.jsonl"


def state_key(state: dict[str, Any]) -> str:
    """A short stable hash of a module state: the identity of a candidate program."""
    return hashlib.sha256(canonical_json(state).encode("utf-8")).hexdigest()[:16]


def example_key(example: Any) -> str:
    """Identity of an example by id *and* content, so train and val records with equal ids never collide."""
    try:
        text = canonical_json([example.id, example.input, example.target])
    except (TypeError, ValueError):
        text = repr((example.id, example.input, example.target))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def save_checkpoint(run_dir: Path, data: dict[str, Any]) -> Path:
    return atomic_write_json(run_dir / CHECKPOINT, data)


def load_checkpoint(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / CHECKPOINT
    if not Path(run_dir).is_dir():
        raise CheckpointError(str(run_dir), "the folder does not exist", "pass the --out folder of a run")
    if not path.exists():
        raise CheckpointError(str(run_dir), f"it has no {CHECKPOINT} (the run stopped before its first step "
                              "finished)", "start the run again with `backprose optimize ... --out` this folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} is damaged ({exc})",
                              "delete the folder and start the run again") from None


class Journal:
    """Scores already judged, keyed by (state key, example id); persisted line by line when given a path."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.scores: dict[tuple[str, str], tuple[float, str, str]] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill
                self.scores[(rec["state"], rec["example"])] = (rec["score"], rec["feedback"], rec["output"])

    def get(self, key: str, example_id: str) -> tuple[float, str, str] | None:
        return self.scores.get((key, example_id))

    def put(self, key: str, example_id: str, score: float, feedback: str, output: str) -> None:
        with self._lock:
            if (key, example_id) in self.scores:
                return
            self.scores[(key, example_id)] = (score, feedback, output)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"state": key, "example": example_id, "score": score,
                                         "feedback": feedback, "output": output}, ensure_ascii=False) + "\n")
