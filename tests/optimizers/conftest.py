"""Helpers for optimizer tests: golden prompt files (see golden_files.py)."""

from __future__ import annotations

import pytest
from golden_files import GOLDEN, compare_golden


@pytest.fixture
def golden():
    """Compare text with a golden file under tests/optimizers/golden (see `compare_golden`)."""
    def check(name: str, text: str) -> None:
        compare_golden(GOLDEN / name, text)
    return check
