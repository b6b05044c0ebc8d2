"""The first Python block of docs/meta-agent-search.md runs as written and finds what it says."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "meta-agent-search.md"


def test_the_docs_example_runs():
    block = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)[0]
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(block, str(PAGE), "exec"), namespace)
    result = namespace["result"]
    assert result.best.name == "verify" and len(result.archive) == 7
    assert all(d.operator == "seed" for d in list(result.archive)[:6])
