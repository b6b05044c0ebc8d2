"""Golden prompt files: compared by the tests, written only by a run by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = ("BACKPROSE_UPDATE_GOLDEN=1 python -m pytest tests/optimizers -m 'not live' "
              "(run by hand, then review the diff)")


def compare_golden(path: Path, text: str) -> None:
    """Fail unless `path` holds `text`. A test never writes a golden file on its own: only a run by hand with
    BACKPROSE_UPDATE_GOLDEN=1 rewrites them, so a missing or stale file cannot pass unnoticed."""
    if os.environ.get("BACKPROSE_UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n", encoding="utf-8")
    if not path.exists():
        pytest.fail(f"golden file {path.name} is missing; create it with {REGENERATE}")
    assert text + "\n" == path.read_text(encoding="utf-8"), f"{path.name} changed; if intended: {REGENERATE}"
