"""Helpers for optimizer tests: small graphs and golden prompt files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden():
    """Compare text with a golden file; `BACKPROSE_UPDATE_GOLDEN=1` rewrites it (review the diff)."""
    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("BACKPROSE_UPDATE_GOLDEN") or not path.exists():
            path.write_text(text + "\n", encoding="utf-8")
        assert text + "\n" == path.read_text(encoding="utf-8"), f"{name} changed; see the diff above"
    return check
