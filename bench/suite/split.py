"""The fixed seeded split: the same (task, seed) gives the same train / validation / test on every machine."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backprose.data import Dataset, Example


@dataclass(frozen=True)
class Split:
    train: Dataset
    validation: Dataset
    test: Dataset


def stable_key(value: Any) -> str:
    """A hash of the value's canonical JSON: independent of file order, Python version and hash seed."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def split(examples: Sequence[Example], task: str, seed: int, *, train: int = 20, validation: int = 20,
          test: int | None = None) -> Split:
    """Sort by id (a stable key), shuffle with a generator seeded by (task, seed), then cut.

    Examples that share `meta["group"]` (several questions about one paragraph) stay together, so no
    paragraph is seen in training and tested too; a part then ends at the first group boundary at or past
    its size. `test=None` keeps every remaining example; a smaller `test` takes a prefix of that, so a quick
    run's test set is part of the full run's. Ids must be unique (a `Dataset` guarantees it).
    """
    groups: dict[str, list[Example]] = {}
    for ex in sorted(examples, key=lambda ex: ex.id):
        groups.setdefault(str(ex.meta.get("group", ex.id)), []).append(ex)
    order = [groups[key] for key in sorted(groups)]
    random.Random(int(hashlib.sha256(f"{task}:{seed}".encode()).hexdigest(), 16)).shuffle(order)
    parts: list[list[Example]] = [[], [], []]
    sizes = (train, validation, test)
    at = 0
    for group in order:
        while at < 3 and sizes[at] is not None and len(parts[at]) >= sizes[at]:  # type: ignore[operator]
            at += 1
        if at == 3:
            break
        parts[at].extend(group)
    if len(parts[0]) < train or len(parts[1]) < validation or not parts[2] or (test and len(parts[2]) < test):
        raise ValueError(f"{task} has {len(examples)} examples, too few for train={train}, "
                         f"validation={validation}, test={test}; ask for smaller sizes")
    return Split(*(Dataset(part, f"{task}/{name}") for part, name in zip(parts, ("train", "validation", "test"),
                                                                           strict=True)))
