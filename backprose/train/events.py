"""The run's event log: one JSON object per line, appended and flushed as things happen.

A checkpoint records the log's length; resuming truncates the log back to it, so the events of a step
that was killed halfway are written once, by the step that finishes.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backprose.errors import CheckpointError

log = logging.getLogger(__name__)
EVENTS = "events.jsonl"
_FIX = "delete events.jsonl; checkpoint.json keeps the run's history, only the event log starts over"


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
            size = self.path.stat().st_size
            if size < offset:  # never pad with zero bytes: continue the log from where it really ends
                log.warning("%s holds %d bytes, fewer than the %d the checkpoint remembers; the log continues "
                            "from its end", self.path, size, offset)
            with open(self.path, "r+b") as fh:
                fh.truncate(min(offset, size))
        self.records = read_events(self.path) if self.path is not None else []


def read_events(path: str | os.PathLike[str] | None, *, action: str = "resume") -> list[dict[str, Any]]:
    """Every complete record of a log; a torn last line (killed mid-write) is skipped, other damage raises."""
    if path is None or not Path(path).exists():
        return []
    return read_jsonl(Path(path), _event_problem, _FIX, action=action)


def _event_problem(record: Any) -> str | None:
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        return "not an event record (a JSON object with an 'event' name)"
    return None


def read_jsonl(path: Path, problem: Callable[[Any], str | None], fix: str, *,
               action: str = "resume") -> list[Any]:
    """The records of a JSONL file that a run appends to.

    Only the last line may be incomplete (the process was killed while writing it): it is skipped. Any other
    line that is not UTF-8, not JSON, or that `problem(record)` objects to is damage, and raises
    `CheckpointError` naming the line, so a damaged run folder is never half-read in silence.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(str(path.parent), f"{path.name} cannot be read ({exc.strerror or exc})",
                              "check the file's permissions", action=action) from None
    lines = data.split(b"\n")
    out = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            why = problem(record)
        except UnicodeDecodeError:
            why = "not UTF-8 text"
        except json.JSONDecodeError as exc:
            why = f"not valid JSON: {exc.msg} at column {exc.colno}"
        if why is not None and number == len(lines) and _torn(raw):
            log.info("%s: skipped its last line, cut short when the run was stopped", path)
            continue
        if why is not None:
            raise CheckpointError(str(path.parent), f"{path.name} line {number} is damaged ({why})", fix,
                                  action=action)
        out.append(record)
    return out


def _torn(raw: bytes) -> bool:
    """Whether `raw` can be the start of a record this library wrote (UTF-8 JSON, cut anywhere)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError:
        return False
    return raw.startswith(b"{") and b"\0" not in raw


def complete_length(path: Path) -> int:
    """Bytes up to the end of the last complete line (what appending may safely continue from)."""
    data = path.read_bytes() if path.exists() else b""
    return data.rfind(b"\n") + 1
