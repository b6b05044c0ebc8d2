"""The archive: every design with its score, one JSON line each, appended and fsynced as it is made.

A crash loses at most the design being written (a half line at the end is ignored and trimmed on the next
append), so a search can be resumed, and `grep`/`jq` can inspect it while it runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backprose.search.design import Design


class Archive:
    """Designs in the order they were added; ids are positions. `path=None` keeps it in memory only."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.designs: list[Design] = []
        self.records: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a half-written last line from a killed run
            self.records.append(row)
            if row.get("type") == "design":
                self.designs.append(Design.from_dict(row["design"]))

    def add(self, design: Design) -> Design:
        """Give `design` the next id, append it, and make it durable before returning."""
        design.id = len(self.designs)
        self._append({"type": "design", "design": design.as_dict()})
        self.designs.append(design)
        return design

    def note(self, kind: str, **data: Any) -> None:
        """Append a non-design record (e.g. the final selection and its test score)."""
        self._append({"type": kind, **data})

    def _append(self, row: dict[str, Any]) -> None:
        self.records.append(row)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
        with self.path.open("a+b") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":  # trim a half line left by a crash before appending
                    fh.seek(0)
                    data = fh.read()
                    fh.truncate(data.rfind(b"\n") + 1)
            fh.seek(0, os.SEEK_END)
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self.designs)

    def __iter__(self) -> Iterator[Design]:
        return iter(self.designs)

    def __getitem__(self, i: int) -> Design:
        return self.designs[i]

    def evaluated(self) -> list[Design]:
        """Designs that ran and got a fitness."""
        return [d for d in self.designs if d.ok]

    def best(self) -> Design | None:
        """Best on validation: highest median, then mean, then the earlier design (ties stay stable)."""
        ok = self.evaluated()
        if not ok:
            return None
        return max(ok, key=lambda d: (d.fitness.median, d.fitness.mean, -d.id))  # type: ignore[union-attr]

    def by_name(self, name: str) -> Design | None:
        return next((d for d in self.designs if d.name == name), None)

    def generations(self) -> int:
        """Highest generation number recorded (0 when only seeds are in)."""
        return max((d.generation for d in self.designs), default=0)
