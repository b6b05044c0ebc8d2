"""The run's event log: one JSON object per line, appended and flushed as things happen.

A checkpoint records the log's length; resuming truncates the log back to it, so the events of a step
that was killed halfway are written once, by the step that finishes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class EventLog:
    """Append-only JSONL file (or nothing, without a path)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self.records: list[dict[str, Any]] = []

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        self.records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
                fh.flush()
        return record

    def offset(self) -> int:
        """Bytes written so far (what a checkpoint remembers)."""
        return self.path.stat().st_size if self.path is not None and self.path.exists() else 0

    def truncate(self, offset: int) -> None:
        """Drop everything after `offset` bytes: the unfinished step's events."""
        if self.path is not None and self.path.exists():
            with open(self.path, "r+b") as fh:
                fh.truncate(offset)
        self.records = read_events(self.path) if self.path is not None else []


def read_events(path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """Every complete record of a log; a torn last line (killed mid-write) is skipped."""
    if path is None or not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
