"""Fitness: accuracy on a validation set with a bootstrap confidence interval, "median (low, high)".

A point accuracy on 20 examples hides a spread of about ±20 points; reporting the interval keeps a lucky
design from looking like progress.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Fitness:
    """Bootstrap summary of per-example scores (each in [0, 1]); `median` orders designs."""

    median: float
    low: float
    high: float
    mean: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"{100 * self.median:.1f}% ({100 * self.low:.1f}%, {100 * self.high:.1f}%)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fitness:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def bootstrap(scores: Sequence[float], *, resamples: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> Fitness:
    """Resample `scores` with replacement `resamples` times; the median and the central `confidence`
    interval of the resampled means. Seeded, so the same scores always give the same interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    data = np.asarray(list(scores), dtype=float)
    if data.size == 0:
        return Fitness(0.0, 0.0, 0.0, 0.0, 0, confidence)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, median, high = np.percentile(means, [tail, 50, 100 - tail])
    # Clamp float noise: a mean never leaves the data's range, and low <= median <= high holds exactly.
    low, median, high = (float(np.clip(v, data.min(), data.max())) for v in (low, median, high))
    low, high = min(low, median), max(high, median)
    return Fitness(median, low, high, float(data.mean()), int(data.size), confidence)
