"""Every code block in README.md and docs/ either runs here or is marked as something that is not Python.

Pages are found, not listed, so a new page is covered from its first commit. On each page every ```python
block runs, in order, in one namespace per page (later blocks use names from earlier ones). A block fenced
``` with no language, or ```py, fails the test: shell commands, JSON, program output and diagrams are fenced
```bash, ```json, ```text or ```mermaid, and Python is always run.

What the pages run under (the pages rely on it, so it is part of the docs):
- the current folder is an empty temporary one, and `BACKPROSE_CACHE_DIR` points into it;
- no model is configured: `BACKPROSE_BASE_URL`, `BACKPROSE_MODEL`, `OPENAI_API_KEY` and
  `BACKPROSE_CACHE_MODE` are unset and the embedded model cannot be imported, so `bp.llm.default()` raises
  `LLMNotConfigured`, as on a machine with nothing installed. A page that needs a model passes a
  `bp.llm.Scripted` one (or a `FakeOpenAIServer`) itself;
- on the pages in `LOCAL_PAGES`, which are about the embedded model, `Local()` is importable and
  `BACKPROSE_LOCAL_BASE_URL` points it at a `FakeOpenAIServer` that answers "echo: <last message>";
- `PAGE_ENV` adds variables a page's text says it reads;
- a page in `CONTINUES` starts from the namespace another page left (it says it continues that page);
- each page runs in a copy of the context, so `bp.llm.configure(...)` on one page never reaches another.
"""

import contextlib
import contextvars
import io
import os
import re
import sys
from pathlib import Path

import pytest

from backprose.testing_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(`{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
NOT_PYTHON = {"bash", "json", "text", "mermaid"}
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
LOCAL_PAGES = {"docs/local-model.md", "docs/caching-and-replay.md"}
PAGE_ENV = {"docs/hosted-models.md": {"OPENAI_API_KEY": "sk-placeholder-never-sent"}}
EXACT_PRINTS = ["README.md", "docs/recipe.md", "docs/training.md"]
CONTINUES = {"docs/resuming.md": "docs/training.md"}
OPTIONAL = {"distributed"}  # pages may need these; skipped without them, except in CI
MODEL_ENV = ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY", "BACKPROSE_CACHE_MODE")


def blocks(page: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of a page, in order. The code is preceded by blank lines so
    that line numbers in a traceback are the page's own."""
    text = (ROOT / page).read_text()
    return [(m.group(2).strip(), "\n" * (text.count("\n", 0, m.start(3))) + m.group(3))
            for m in FENCE.finditer(text)]


def python_blocks(page: str) -> list[str]:
    return [code for lang, code in blocks(page) if lang == "python"]


def run_page(page: str, namespace: dict | None = None) -> dict:
    """Run every python block of `page` (after the page it continues) in one namespace; return it."""
    if namespace is None:
        namespace = run_page(CONTINUES[page]) if page in CONTINUES else {"__name__": "__docs__"}
    for code in python_blocks(page):
        exec(compile(code, str(ROOT / page), "exec"), namespace)
    return namespace


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """The setting described in the module docstring; yields a function that applies a page's extras."""
    monkeypatch.chdir(tmp_path)
    for name in MODEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAIServer(models=["fake-local"]) as server:
        monkeypatch.setenv("BACKPROSE_LOCAL_BASE_URL", server.base_url)

        def enter(page: str) -> None:
            if page not in LOCAL_PAGES:
                monkeypatch.setitem(sys.modules, "backprose.llm.local", None)  # import fails: no local model
            for name, value in PAGE_ENV.get(page, {}).items():
                monkeypatch.setenv(name, value)

        yield enter


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)])
def test_python_blocks_run(page, docs_env):
    docs_env(page)
    try:
        contextvars.copy_context().run(run_page, page)
    except ModuleNotFoundError as err:  # an extra's package (dask's `distributed`); the [dev] extra has them
        if err.name not in OPTIONAL or os.environ.get("CI"):
            raise
        pytest.skip(f"{page} needs {err.name}: pip install -e '.[dev]'")


@pytest.mark.parametrize("page", PAGES)
def test_every_block_is_python_or_marked_as_not_python(page):
    unmarked = [f"```{lang} block starting {code.strip()[:60]!r}" for lang, code in blocks(page)
                if lang not in NOT_PYTHON | {"python"}]
    assert unmarked == [], (f"{page}: fence Python as ```python (it then runs here) and anything else as one "
                            f"of {sorted(NOT_PYTHON)}")


@pytest.mark.parametrize("page", PAGES)
def test_fences_are_all_found(page):
    """The fence reader sees every fence: an unclosed or odd one would hide a block from the tests."""
    left = FENCE.sub("", (ROOT / page).read_text())
    assert re.findall(r"^ *`{3,}[^`]*$", left, re.MULTILINE) == []


@pytest.mark.parametrize("page", EXACT_PRINTS)
def test_page_runs_with_no_model_and_prints_what_its_comments_say(page, docs_env):
    """On these pages a `print(...)  # text` line promises exactly that text (the README tour among them)."""
    docs_env(page)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        contextvars.copy_context().run(run_page, page)
    code = "\n".join(python_blocks(page))
    promised = [m.group(1) for m in re.finditer(r"^print\(.*\)\s+# (.*)$", code, re.MULTILINE)]
    assert promised, f"{page} shows what it prints"
    assert out.getvalue().splitlines() == promised


def test_readme_links_point_at_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links, "the README links into docs/"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []
