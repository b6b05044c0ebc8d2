"""Per-example results of a split: what the starting and the final program answered, and how each was judged.

They are read from the run's journal, so saving them costs no model call: the trainer judged every validation
example for both programs during the run, and keeps the answers. A held-out test set is scored once, after
the run (`evaluate_split`, i.e. `Trainer.evaluate`); nothing in training ever reads those scores.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprose.data.dataset import Dataset, Example
from backprose.errors import CheckpointError
from backprose.llm.accounting import track_usage
from backprose.module import atomic_write_json
from backprose.train.checkpoint import Journal, example_key, state_key
from backprose.train.moves import Moves

if TYPE_CHECKING:
    from backprose.train.trainer import Trainer

log = logging.getLogger(__name__)
VAL_RESULTS = "val_results.json"
TEST_RESULTS = "test_results.json"
FILES = {"validation": VAL_RESULTS, "test": TEST_RESULTS}


@dataclass
class SplitResults:
    """The starting (`"start"`) and final (`"final"`) program on one split: mean scores and every example.

    Each example is `{"id", "input", "target", "start": {"output", "score", "feedback"}, "final": {...}}`.
    """

    split: str
    scores: dict[str, float]
    states: dict[str, str]
    examples: list[dict[str, Any]]
    spent: dict[str, Any] | None = field(default=None)

    @property
    def before(self) -> float | None:
        return self.scores.get("start")

    @property
    def after(self) -> float | None:
        return self.scores.get("final")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        shown = " -> ".join(f"{self.scores[k]:.3f}" for k in ("start", "final") if k in self.scores)
        return f"SplitResults({self.split}: {shown} on {len(self.examples)} examples)"


def _plain(value: Any) -> Any:
    """The value itself if JSON can hold it, else its repr (an input may be any Python object)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def collect(journal: Journal, split: str, examples: Sequence[Example], programs: dict[str, dict[str, Any]],
            spent: dict[str, Any] | None = None) -> SplitResults:
    """Results of each named program state on `examples`, from the journal only (no model call).

    A program with an example the journal lacks (its rollouts.jsonl was deleted) is left out, on one log line.
    """
    keys = {name: state_key(state) for name, state in programs.items()}
    found = {name: [journal.get(key, example_key(ex)) for ex in examples] for name, key in keys.items()}
    for name, records in list(found.items()):
        if any(r is None for r in records):
            log.warning("%s results: the %s program's answers to %d of %d examples were not recorded (rollouts.jsonl "
                        "lost them); it is left out", split, name, sum(r is None for r in records), len(records))
            del found[name], keys[name]
    rows = []
    for i, ex in enumerate(examples):
        row: dict[str, Any] = {"id": ex.id, "input": _plain(ex.input), "target": _plain(ex.target)}
        for name, records in found.items():
            score, feedback, output = records[i]  # type: ignore[misc]
            row[name] = {"output": output, "score": score, "feedback": feedback}
        rows.append(row)
    scores = {name: sum(r[0] for r in records) / len(records) if records else 0.0  # type: ignore[index]
              for name, records in found.items()}
    return SplitResults(split, scores, keys, rows, spent)


def save(run_dir: Path, results: SplitResults) -> Path:
    """Write the results file of the split, atomically (a kill leaves the old file or the new one)."""
    return atomic_write_json(run_dir / FILES[results.split], results.as_dict())


def evaluate_split(trainer: Trainer, examples: Sequence[Any], split: str = "test") -> SplitResults:
    """Score the starting program and the module as it is now (after `fit`: the final program) on `examples`.

    Scores go through the run's journal, so a resumed or repeated evaluation runs nothing twice; the calls it
    makes are outside the training budget and reported in `spent`. Written to the run folder if there is one.
    """
    if trainer.start_state is None:
        raise CheckpointError(str(trainer.run_dir or "this trainer"), "it has not run yet, so there is no starting "
                              "and final program to compare", "call fit() before evaluate()",
                              action=f"evaluate on {split}")
    data = examples if isinstance(examples, Dataset) else Dataset(examples, split)
    programs = {"start": trainer.start_state, "final": trainer.module.state_dict()}
    moves = Moves(trainer, [], random.Random(0), programs["final"])
    with track_usage() as usage:
        for state in programs.values():
            moves.scores(state, list(data))
    spent = {k: usage.as_dict()[k] for k in ("calls", "cache_hits", "total_tokens", "cost")}
    results = collect(trainer.journal, split, data, programs, spent)
    trainer.events.emit("scored", split=split, scores=results.scores, spent=spent)
    if trainer.run_dir is not None:
        save(trainer.run_dir, results)
    return results


def read_results(run_dir: str | Path, split: str) -> dict[str, Any] | None:
    """The saved results of `split` in a run folder, or None if the run wrote none."""
    path = Path(run_dir) / FILES[split]
    if not path.exists():
        return None
    fix = f"delete {path.name} (resuming the run writes it again) or restore the file"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(str(run_dir), f"{path.name} is damaged ({exc})", fix, action="report on") from None
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or not isinstance(
            data.get("examples"), list) or not all(isinstance(e, dict) for e in data["examples"]):
        raise CheckpointError(str(run_dir), f"{path.name} does not hold a split's results", fix, action="report on")
    return data
