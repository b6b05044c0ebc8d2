"""What the agent benches share: results kept cell by cell, the run's header, and one table.

A cell is one (row, seed) result: the row's test items with their scores, and the calls it spent. Each is
appended to a JSONL file and fsynced as soon as it is measured, so a killed run loses no finished cell and
a rerun with the same file and the same settings skips them. The table pools a row's test items over its
seeds: mean and a 95% bootstrap interval over (seed, item) pairs, seeded so it reads the same every time.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from backprose.search.fitness import bootstrap
from bench.suite.split import stable_key


def sized(task: Any, train: int, validation: int) -> Any:
    """`task` with the first `train` / `validation` examples of its split (a quick run's parts are prefixes)."""
    return replace(task, train=task.train[:train], validation=task.validation[:validation])


def command() -> str:
    """This run's command line, as `python -m bench.<name> ...` for a bench module."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    head = [Path(sys.executable).name]
    if script is not None and script.parent == Path(__file__).resolve().parent:
        head += ["-m", f"bench.{script.stem}"]
    elif sys.argv:
        head.append(sys.argv[0])
    return " ".join(shlex.quote(a) for a in [*head, *sys.argv[1:]])


def commit(root: Path | None = None, out: Path | None = None) -> str:
    """The code version measured: the short commit of `root` (default: this checkout), marked `+dirty` when
    tracked or new files differ from it, leaving out the run folder `out` (a run inside the checkout writes
    there). Every bench table prints this one mark."""
    root = root or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:  # no git on this machine
            return ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    exclude = []
    if out is not None and out.resolve().is_relative_to(root.resolve()):
        exclude = [f":(exclude){out.resolve().relative_to(root.resolve())}"]
    return head + ("+dirty" if head != "unknown" and git("status", "--porcelain", "--", ".", *exclude) else "")


class Cells:
    """The results file of one configuration. `settings` (sizes, budgets, models) key the cells: a cell
    measured under other settings is not reused."""

    def __init__(self, path: str | os.PathLike[str] | None, settings: Mapping[str, Any]) -> None:
        self.path = Path(path) if path is not None else None
        self.settings = dict(settings)
        self.key = stable_key(self.settings)[:16]
        self.cells: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a half line written when a run was killed
                if row.get("type") == "cell" and row.get("settings_key") == self.key:
                    self.cells.append(row)

    def done(self, row: str, seed: int) -> dict[str, Any] | None:
        return next((c for c in self.cells if c["row"] == row and c["seed"] == seed), None)

    def add(self, cell: dict[str, Any]) -> dict[str, Any]:
        """Keep `cell` (durably, before returning) and return it."""
        cell = {"type": "cell", "settings_key": self.key, "settings": self.settings, **cell}
        self.cells.append(cell)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(cell, ensure_ascii=False, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return cell


def summary(cells: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and 95% bootstrap interval of the pooled test scores, and the calls summed over the cells."""
    cells = list(cells)
    scores = [s for c in cells for s in c["scores"]]
    fit = bootstrap(scores, resamples=2000, seed=0)
    calls = {k: sum(c["calls"].get(k, 0) for c in cells) for k in ("program", "optimizer", "test")}
    return {"seeds": [c["seed"] for c in cells], "n": len(scores), "mean": fit.mean, "low": fit.low,
            "high": fit.high, **calls}


def table(title: str, header: Mapping[str, Any], rows: Sequence[tuple[str, str]],
          cells: Sequence[Mapping[str, Any]]) -> str:
    """The run's one table: `rows` are (key, label) in order; rows with no cell are left out."""
    lines = [f"== {title}", f"command: {command()}", f"commit:  {commit()}"]
    lines += [f"{k}: {v}" for k, v in header.items()]
    lines.append(f"{'row':44s} {'seeds':>5s} {'n':>4s}  {'test mean':>9s}  {'95% interval':>14s}  "
                 f"{'calls before test: program':>26s} {'optimizer':>9s}  {'test calls':>10s}")
    for key, label in rows:
        mine = [c for c in cells if c["row"] == key]
        if not mine:
            continue
        s = summary(mine)
        lines.append(f"{label:44s} {len(s['seeds']):5d} {s['n']:4d}  {s['mean']:9.3f}  "
                     f"({s['low']:.3f}, {s['high']:.3f})  {s['program']:26d} {s['optimizer']:9d}  {s['test']:10d}")
    lines.append("calls are summed over seeds (requests answered by the server or replayed from the cache alike); "
                 "the interval is a bootstrap over (seed, test item) pairs.")
    return "\n".join(lines)
