"""Checkpoints and the rollout journal of a run folder.

`checkpoint.json` is rewritten atomically as a run starts and after every step: parameters (current and
best), optimizer and strategy state, the RNG, what was spent, the history and the event log's length.
`rollouts.jsonl` gets a line the moment any rollout is judged, so a resumed run never redoes a finished one.
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
from backprose.train.budget import Spent
from backprose.train.events import complete_length, read_jsonl

CHECKPOINT = "checkpoint.json"
JOURNAL = "rollouts.jsonl"
CALLS = "calls.log"


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


# what a checkpoint must hold, and the JSON types of each field (None: the start is not scored yet)
_FIELDS: dict[str, tuple[type, ...]] = {
    "step": (int,), "current": (dict,), "current_val": (int, float, type(None)),
    "initial_val": (int, float, type(None)), "optimizer": (dict,), "strategy": (dict,), "rng": (list,),
    "spent": (dict,), "stale": (int,), "history": (list,), "events_offset": (int,)}


def load_checkpoint(run_dir: str | os.PathLike[str], *, action: str = "resume") -> dict[str, Any]:
    """The checkpoint of a run folder, checked field by field; `action` names what the caller attempts."""
    path = Path(run_dir) / CHECKPOINT
    if not Path(run_dir).is_dir():
        raise CheckpointError(str(run_dir), "the folder does not exist", "pass the --out folder of a run",
                              action=action)
    if not path.exists():
        raise CheckpointError(str(run_dir), f"it is not a run folder: it has no {CHECKPOINT}",
                              "pass the --out folder of a run (a run writes its checkpoint as soon as it starts)",
                              action=action)
    damaged = "restore the file, or start the run again in a new folder"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} is damaged ({exc})", damaged, action=action) from None
    if not isinstance(data, dict):
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} holds a JSON {type(data).__name__}, not an object",
                              damaged, action=action)
    for name, types in _FIELDS.items():
        if name not in data:
            raise CheckpointError(str(run_dir), f"{CHECKPOINT} has no {name!r} field", damaged, action=action)
        if not isinstance(data[name], types) or isinstance(data[name], bool):
            raise CheckpointError(str(run_dir), f"{CHECKPOINT} field {name!r} is a {type(data[name]).__name__}",
                                  damaged, action=action)
    unknown = set(data["spent"]) - set(Spent().as_dict())
    bad = [k for k, v in data["spent"].items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if unknown or bad:
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} field 'spent' holds {sorted(unknown or bad)}, not the "
                              "numbers of model calls, tokens, cost and seconds", damaged, action=action)
    if any(not isinstance(h, dict) or not isinstance(h.get("step"), int) or not isinstance(h.get("accepted"), bool)
           or "val_before" not in h for h in data["history"]):
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} field 'history' holds a record that is not a step",
                              damaged, action=action)
    if data["step"] < 0 or data["events_offset"] < 0:
        raise CheckpointError(str(run_dir), f"{CHECKPOINT} holds a negative step or offset", damaged,
                              action=action)
    return data


_JOURNAL_FIX = "delete rollouts.jsonl; the rollouts it recorded then run again (the response cache answers them)"
_RECORD = {"state": str, "example": str, "score": (int, float), "feedback": str, "output": str}


def _journal_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a rollout record"
    for name, types in _RECORD.items():
        if not isinstance(record.get(name), types):
            return f"no {name!r} of the right type"
    return None


class Journal:
    """Scores already judged, keyed by (state key, example id); persisted line by line when given a path.

    Loading cuts off a last line torn by a kill, so the lines appended next start on a line of their own.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.scores: dict[tuple[str, str], tuple[float, str, str]] = {}
        if path is not None and path.exists():
            for rec in read_jsonl(path, _journal_problem, _JOURNAL_FIX):
                self.scores[(rec["state"], rec["example"])] = (rec["score"], rec["feedback"], rec["output"])
            keep = complete_length(path)
            if keep < path.stat().st_size:
                with open(path, "r+b") as fh:
                    fh.truncate(keep)

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
