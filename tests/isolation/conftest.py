"""Shared sandboxes: starting interpreters is the slow part, so tests share warm workers where they can."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from backprose.isolation import Limits, Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(limits=Limits(wall_time=10.0, memory_mb=512), workers=2) as sb:
        yield sb


def child_pids() -> set[int]:
    """Live (not yet reaped) child processes of this test process, read from /proc."""
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


@pytest.fixture
def children() -> Callable[[], set[int]]:
    """A function listing this process's live child processes."""
    return child_pids
