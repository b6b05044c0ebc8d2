"""Examples and datasets. A record is one JSON object (or CSV row) with an input field and a target field.

Each example carries a stable `id` (given in the record, else its line number), which keys the rollout
journal, so a resumed run recognises rollouts it already finished.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprose.errors import DatasetError


@dataclass(frozen=True)
class Example:
    """One input for the program and the target the guide compares its output with."""

    input: Any
    target: Any = None
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, "target": self.target, **({"meta": self.meta}
                                                                             if self.meta else {})}


class Dataset(Sequence[Example]):
    """An ordered, immutable list of examples with unique ids."""

    def __init__(self, examples: Iterable[Example | dict[str, Any] | tuple[Any, Any]], name: str = "") -> None:
        items = [as_example(e, i) for i, e in enumerate(examples)]
        seen: dict[str, int] = {}
        for i, ex in enumerate(items):
            if ex.id in seen:
                raise DatasetError(name or "dataset", i + 1, f"duplicate id {ex.id!r} (also record "
                                   f"{seen[ex.id] + 1})", "give every record a unique 'id' or drop the field")
            seen[ex.id] = i
        self._items = items
        self.name = name

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Dataset(self._items[index], self.name)
        return self._items[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self)} examples)"


def as_example(item: Example | dict[str, Any] | tuple[Any, Any], index: int) -> Example:
    """Accept what users naturally write: an Example, an {'input', 'target'} dict or an (input, target) pair."""
    if isinstance(item, Example):
        return item if item.id else Example(item.input, item.target, str(index), item.meta)
    if isinstance(item, dict):
        return _from_record(item, index, "input", "target", "dataset", index + 1)
    if isinstance(item, tuple) and len(item) == 2:
        return Example(item[0], item[1], str(index))
    raise TypeError(f"cannot make an example from {type(item).__name__}; use bp.data.Example(input, target), "
                    "a dict with 'input' and 'target', or an (input, target) tuple")


def _from_record(record: dict[str, Any], index: int, input_key: str, target_key: str, where: str,
                 line: int, require_target: bool = False) -> Example:
    for key, role, needed in ((input_key, "input", True), (target_key, "target", require_target)):
        if needed and key not in record:
            raise DatasetError(where, line, f"the record has no {key!r} field (fields: "
                               f"{', '.join(map(repr, record)) or 'none'})",
                               f"add {key!r} to every record, or pass {role}_key= naming the {role} field")
    meta = {k: v for k, v in record.items() if k not in (input_key, target_key, "id")}
    rid = record.get("id", index)
    return Example(record[input_key], record.get(target_key), str(rid), meta)


def load_jsonl(path: str | os.PathLike[str], *, input_key: str = "input", target_key: str = "target",
               require_target: bool = False) -> Dataset:
    """One JSON object per line; blank lines are skipped; a malformed line is an error naming it.

    `require_target`: a record without the target field is an error (a metric has nothing to compare with).
    """
    path = Path(path)
    text = _read(path)
    examples = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(str(path), lineno, f"not valid JSON ({exc.msg} at column {exc.colno})",
                               "write one JSON object per line") from None
        if not isinstance(record, dict):
            raise DatasetError(str(path), lineno, f"a JSON {type(record).__name__}, not an object",
                               'write each record as {"input": ..., "target": ...}')
        examples.append(_from_record(record, lineno, input_key, target_key, str(path), lineno, require_target))
    return _named(examples, path)


def load_csv(path: str | os.PathLike[str], *, input_key: str = "input", target_key: str = "target",
             require_target: bool = False) -> Dataset:
    """A CSV file with a header row; values stay strings. `require_target` as in `load_jsonl`."""
    path = Path(path)
    rows = csv.reader(_read(path).splitlines())
    header = next(rows, None)
    if not header:
        raise DatasetError(str(path), 1, "the file has no header row", f"start it with '{input_key},{target_key}'")
    examples = []
    for lineno, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DatasetError(str(path), lineno, f"{len(row)} fields but the header has {len(header)}",
                               "quote fields that contain commas, and give every row one value per column")
        in_header = input_key in header and (target_key in header or not require_target)
        examples.append(_from_record(dict(zip(header, row, strict=True)), lineno, input_key, target_key,
                                     str(path), lineno if in_header else 1, require_target))
    return _named(examples, path)


def load(path: str | os.PathLike[str], **keys: Any) -> Dataset:
    """Load by extension: `.jsonl`/`.json` lines, or `.csv`; `keys` go to `load_jsonl` / `load_csv`."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return load_jsonl(path, **keys)
    if suffix == ".csv":
        return load_csv(path, **keys)
    raise DatasetError(str(path), 0, f"unknown file type {suffix or '(none)'!r}",
                       "use a .jsonl file (one JSON object per line) or a .csv file with a header row")


def split(data: Sequence[Example], fractions: Sequence[float] = (0.5, 0.5), *, seed: int = 0) -> list[Dataset]:
    """Shuffle with `seed` and cut into parts of the given fractions (the last part takes the remainder)."""
    if not fractions or any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise ValueError(f"fractions must be non-negative and sum to at most 1, got {list(fractions)}")
    items = list(data)
    random.Random(seed).shuffle(items)
    parts, start = [], 0
    for i, fraction in enumerate(fractions):
        end = len(items) if i == len(fractions) - 1 and abs(sum(fractions) - 1) < 1e-9 else \
            start + round(fraction * len(items))
        parts.append(Dataset(items[start:end], getattr(data, "name", "")))
        start = end
    return parts


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(str(path), 0, "the file does not exist", "check the path (it is relative to the "
                           f"current directory {os.getcwd()})") from None
    except IsADirectoryError:
        raise DatasetError(str(path), 0, "it is a folder, not a file", "pass the path of the .jsonl or .csv "
                           "file inside it") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(str(path), 0, f"not UTF-8 text ({exc.reason})", "save the file as UTF-8") from None
    except OSError as exc:
        raise DatasetError(str(path), 0, f"it cannot be read ({exc.strerror or exc})",
                           "check the file's permissions") from None


def _named(examples: list[Example], path: Path) -> Dataset:
    if not examples:
        raise DatasetError(str(path), 0, "the file holds no records", "add at least one record")
    return Dataset(examples, path.stem)
