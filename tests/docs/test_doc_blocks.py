"""Python blocks in the docs and the README run as written, so the pages cannot drift from the API.

On the pages listed here every ```python block runs, in order, in one namespace per page (later blocks
may use names from earlier ones). Blocks that need a real model or the user's own program are fenced
```py instead: highlighted the same, never run.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PAGES = ["docs/concepts.md", "docs/agents.md", "docs/index.md", "docs/propagators.md", "docs/caching-and-replay.md",
         "docs/hosted-models.md"]


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY", "BACKPROSE_CACHE_MODE"):
        monkeypatch.delenv(name, raising=False)
    blocks = BLOCK.findall((ROOT / page).read_text())
    assert blocks, f"{page} has no python block"
    namespace = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, page, "exec"), namespace)


def test_readme_links_point_at_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links, "the README links into docs/"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []
