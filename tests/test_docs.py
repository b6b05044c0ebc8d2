"""Python blocks in the docs and the README run as written (the ones that need no model)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PAGES = ["docs/concepts.md"]


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall((ROOT / page).read_text())
    assert blocks, f"{page} has no python block"
    for block in blocks:
        exec(compile(block, page, "exec"), {"__name__": "__docs__"})
