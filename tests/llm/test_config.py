import asyncio
import subprocess
import sys

import pytest

import backprose.llm as bpllm
from backprose.errors import LLMNotConfigured
from backprose.llm import OpenAI, Scripted, configure, default
from backprose.llm.config import _from_env, _local


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY", "BACKPROSE_CACHE_DIR",
                 "BACKPROSE_CACHE_MODE"):
        monkeypatch.delenv(name, raising=False)
    _from_env.cache_clear()
    _local.cache_clear()
    yield
    _from_env.cache_clear()
    _local.cache_clear()


def test_configure_as_context_manager_nests_and_restores(monkeypatch):
    monkeypatch.setenv("BACKPROSE_BASE_URL", "http://127.0.0.1:9/v1")
    outer, inner = Scripted(["a"]), Scripted(["b"])
    with configure(outer):
        assert default() is outer
        with configure(inner) as got:
            assert got is inner and default() is inner
        assert default() is outer
    assert isinstance(default(), OpenAI)


def test_configure_is_per_asyncio_task():
    a, b = Scripted(["a"]), Scripted(["b"])

    async def use(client):
        with configure(client):
            await asyncio.sleep(0.01)
            return default()

    async def main():
        return await asyncio.gather(use(a), use(b))

    assert asyncio.run(main()) == [a, b]


def test_environment_gives_one_shared_openai_client(monkeypatch):
    monkeypatch.setenv("BACKPROSE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("BACKPROSE_MODEL", "some-model")
    client = default()
    assert isinstance(client, OpenAI) and client.base_url == "http://127.0.0.1:9/v1"
    assert client.model == "some-model" and client.cache is None
    assert default() is client


def test_cache_env_turns_on_the_cache_for_the_env_client(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKPROSE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path))
    assert default().cache.directory == tmp_path


def test_missing_local_model_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "backprose.llm.local", None)  # makes the import fail
    with pytest.raises(LLMNotConfigured, match=r"pip install 'backprose\[local\]'"):
        default()


def test_local_is_lazy():
    code = ("import sys, backprose.llm; "
            "assert 'backprose.llm.local' not in sys.modules and 'llama_cpp' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "Local" in bpllm.__all__
    with pytest.raises(AttributeError):
        bpllm.NoSuchThing  # noqa: B018
