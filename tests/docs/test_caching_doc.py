"""What the README and docs/caching-and-replay.md say is cached by default is what the clients do, and the
page names the test helpers `backprose.testing` really has."""

import re
from pathlib import Path

import pytest

import backprose.testing as testing
from backprose.llm.config import default
from backprose.testing_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "caching-and-replay.md").read_text()
README = (ROOT / "README.md").read_text()


@pytest.fixture
def server(monkeypatch, tmp_path):
    for name in ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY", "BACKPROSE_CACHE_DIR",
                 "BACKPROSE_CACHE_MODE"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAIServer(models=["fake-model"]) as fake:
        monkeypatch.setenv("BACKPROSE_LOCAL_BASE_URL", fake.base_url)
        yield fake


def cache_of_default(monkeypatch, server, tmp_path, model, **env):
    """default() memoizes the clients it builds from the environment: each call names its own model."""
    monkeypatch.setenv("BACKPROSE_BASE_URL", server.base_url)
    monkeypatch.setenv("BACKPROSE_MODEL", model)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    return default().cache


def cache_of_cli(monkeypatch, server, tmp_path):
    from backprose.cli import _client

    monkeypatch.setenv("BACKPROSE_BASE_URL", server.base_url)
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path / "cli-cache"))
    return _client().cache


def test_the_table_of_what_is_cached_matches_the_clients(server, monkeypatch, tmp_path):
    from backprose.llm import OpenAI, Scripted
    from backprose.llm.local import Local

    rows = dict(re.findall(r"^\| (.+?) \| (off, unless|always on|off)[^|]*\|$", PAGE, re.MULTILINE))
    assert len(rows) == 4, rows
    made_in_python = [OpenAI(model="m", base_url=server.base_url).cache, Local().cache, Scripted(["x"]).cache]
    assert made_in_python == [None, None, None]
    assert OpenAI(model="m", base_url=server.base_url, cache=tmp_path).cache is not None
    assert cache_of_default(monkeypatch, server, tmp_path, "m1") is None
    in_dir = cache_of_default(monkeypatch, server, tmp_path, "m2", BACKPROSE_CACHE_DIR="{tmp}/c")
    assert in_dir.directory == tmp_path / "c"
    assert cache_of_default(monkeypatch, server, tmp_path, "m3", BACKPROSE_CACHE_MODE="replay").mode == "replay"
    assert cache_of_cli(monkeypatch, server, tmp_path) is not None
    said = list(rows.values())
    assert said == ["off, unless", "off, unless", "off", "always on"]


def test_the_readme_says_a_python_client_caches_only_when_asked():
    bullet = re.search(r"^- `bp\.llm\.OpenAI.*?(?=^- |^\n|\Z)", README, re.MULTILINE | re.DOTALL).group(0)
    assert "cache=True" in bullet and "caches nothing unless" in bullet
    assert "responses are cached on disk so a rerun costs nothing" not in README


def test_the_page_names_the_test_helpers_that_exist_and_no_others():
    assert "hypothesis" not in PAGE.lower() or hasattr(testing, "strategies")
    doubles = PAGE.split("## Test doubles", 1)[1]
    for name in ("Scripted", "Replay", "Recorder", "FakeOpenAIServer"):
        assert name in testing.__all__ and f"`{name}" in doubles
    assert "from backprose.testing import FakeOpenAIServer" in doubles  # and a block that runs shows it
