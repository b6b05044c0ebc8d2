"""Fixtures of the search tests: a small arithmetic task and a two-worker sandbox with tight limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backprose.isolation import Limits, Sandbox
from backprose.search import arithmetic


@pytest.fixture
def task():
    return arithmetic(6, 6, seed=1)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(limits=Limits(wall_time=3.0, memory_mb=400), workers=2) as sb:
        yield sb
