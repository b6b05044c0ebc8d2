"""`Local`: wiring to the shared server, reuse of a running server, and live checks on the real model."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backprose.errors import InvalidOption, LocalModelUnavailable
from backprose.llm import local as local_module
from backprose.llm import local_server
from backprose.llm.local import Local, available_cores
from backprose.llm.model_files import DEFAULT_MODEL
from backprose.llm.openai_client import OpenAI


class FakeOpenAIServer(BaseHTTPRequestHandler):
    """Answers /v1/models and /v1/chat/completions like a one-model OpenAI-compatible server."""

    requests: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        self._reply({"object": "list", "data": [{"id": "served-model", "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        self._reply({
            "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "pong"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
        })  # fmt: skip

    def _reply(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def fake_server() -> Iterator[str]:
    FakeOpenAIServer.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAIServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_running_server_from_env_is_reused_through_the_openai_client(fake_server: str, monkeypatch) -> None:
    monkeypatch.setenv("BACKPROSE_LOCAL_BASE_URL", fake_server)
    monkeypatch.delenv("BACKPROSE_MODEL", raising=False)
    monkeypatch.setattr(local_module, "acquire", lambda *a, **k: pytest.fail("must not start a server"))
    with Local() as client:
        assert isinstance(client, OpenAI) and client.server is None
        reply = client.complete("ping", max_tokens=3)
    assert reply.text == "pong" and reply.model == "served-model"
    assert (reply.prompt_tokens, reply.completion_tokens) == (7, 1)
    assert FakeOpenAIServer.requests[-1]["messages"] == [{"role": "user", "content": "ping"}]
    assert FakeOpenAIServer.requests[-1]["max_tokens"] == 3


def test_an_external_server_takes_the_response_format_named_in_the_environment(fake_server: str, monkeypatch):
    """Unset, nothing is assumed of an external server; set, optimizers ask it with that format (as the
    examples' fast mode must, to send the requests its recording holds); a typo is refused by name."""
    monkeypatch.setenv("BACKPROSE_LOCAL_BASE_URL", fake_server)
    monkeypatch.delenv("BACKPROSE_LOCAL_RESPONSE_FORMAT", raising=False)
    with Local() as client:
        assert client.response_format_style is None
    monkeypatch.setenv("BACKPROSE_LOCAL_RESPONSE_FORMAT", "json_schema")
    with Local() as client:
        assert client.response_format_style == "json_schema"
    monkeypatch.setenv("BACKPROSE_LOCAL_RESPONSE_FORMAT", "json_shema")
    with pytest.raises(InvalidOption, match="BACKPROSE_LOCAL_RESPONSE_FORMAT.*json_shema.*json_schema"):
        Local()


@pytest.mark.parametrize("backend, style, slots", [
    (local_server.XLLAMACPP, "json_schema", 4),
    (local_server.LLAMA_CPP_PYTHON, "json_object_schema", 1),
])  # fmt: skip
def test_gguf_path_builds_the_server_config_and_close_releases_once(
    tmp_path: Path, fake_server: str, monkeypatch, caplog, backend: str, style: str, slots: int
) -> None:
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    acquired, released = [], []

    def fake_acquire(config: local_server.ServerConfig, startup_timeout: float) -> Any:
        acquired.append(config)
        return SimpleNamespace(base_url=fake_server)

    monkeypatch.delenv("BACKPROSE_LOCAL_BASE_URL", raising=False)
    monkeypatch.setattr(local_module, "acquire", fake_acquire)
    monkeypatch.setattr(local_module, "release", lambda config, server: released.append(config))
    monkeypatch.setattr(local_module, "preferred_backend", lambda: backend)
    with caplog.at_level("WARNING", logger="backprose"):
        client = Local(gguf, n_ctx=1024, server_args=["--n_batch", "64"])
    (config,) = acquired
    assert config.model_path == gguf and config.alias == "my-model" and config.n_ctx == 1024
    assert config.chat_format is None  # an unknown GGUF uses its own embedded chat template
    assert config.n_threads == available_cores()
    assert config.extra_args == ("--n_batch", "64")
    assert client.model == "my-model" and client.base_url == fake_server
    assert config.backend == backend and config.n_parallel == slots and client.max_concurrency == slots
    assert client.response_format_style == style
    fallback = [r.getMessage() for r in caplog.records if "llama-cpp-python's server" in r.getMessage()]
    assert len(fallback) == (backend == local_server.LLAMA_CPP_PYTHON)
    client.close()
    client.close()
    assert released == [config]


def test_slots_and_concurrency_are_configurable(tmp_path: Path, fake_server: str, monkeypatch) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    acquired: list[local_server.ServerConfig] = []
    monkeypatch.delenv("BACKPROSE_LOCAL_BASE_URL", raising=False)
    monkeypatch.setattr(local_module, "acquire",
                        lambda config, startup_timeout: (
                            acquired.append(config) or SimpleNamespace(base_url=fake_server)))
    monkeypatch.setattr(local_module, "release", lambda config, server: None)
    monkeypatch.setattr(local_module, "preferred_backend", lambda: local_server.XLLAMACPP)
    with Local(gguf, n_parallel=8) as wide, Local(gguf, n_parallel=8, max_concurrency=2) as capped:
        assert (wide.max_concurrency, capped.max_concurrency) == (8, 2)
    assert [c.n_parallel for c in acquired] == [8, 8]
    cmd = acquired[0].command(9000)
    assert cmd[1:3] == ["-m", "backprose.llm.xllama_server"] and cmd[-2:] == ["--n_parallel", "8"]


def test_missing_llama_cpp_names_the_install_command(tmp_path: Path, monkeypatch) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.delenv("BACKPROSE_LOCAL_BASE_URL", raising=False)
    monkeypatch.setattr(local_server, "server_available", lambda: False)
    with pytest.raises(LocalModelUnavailable, match=r"pip install 'backprose\[local\]'"):
        Local(gguf)


@pytest.mark.live
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend, n_flags", [(local_server.XLLAMACPP, 8), (local_server.LLAMA_CPP_PYTHON, 7)])
def test_server_command_uses_flags_the_installed_server_accepts(
    tmp_path: Path, local_llm: Local, backend: str, n_flags: int
) -> None:
    config = local_server.ServerConfig(tmp_path / "m.gguf", "m", n_ctx=2048, n_threads=2, chat_format="chatml",
                                       backend=backend)  # fmt: skip
    cmd = config.command(8123)
    if backend == local_server.LLAMA_CPP_PYTHON and importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the llama-cpp-python fallback is not installed")
    help_text = subprocess.run(
        [*cmd[:3], "--help"], capture_output=True, text=True, timeout=100, check=True
    ).stdout
    flags = [arg for arg in cmd[3:] if arg.startswith("--")]
    assert len(flags) == n_flags
    assert [flag for flag in flags if flag not in help_text] == []


# -- live: the real model ----------------------------------------------------------------------------


@pytest.mark.live
def test_live_short_completion(local_llm: Local) -> None:
    reply = local_llm.complete(
        [{"role": "user", "content": "What is 2 + 3? Answer with the number only."}],
        max_tokens=4,
        temperature=0,
    )
    assert "5" in reply.text
    assert reply.model == DEFAULT_MODEL
    assert 0 < reply.completion_tokens <= 4 and reply.prompt_tokens > 5


@pytest.mark.live
def test_live_json_schema_reply(local_llm: Local) -> None:
    from backprose.llm.structured import complete_json

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    value = complete_json(
        local_llm, "Ann is 31 years old. Give her name and age as JSON.", schema, max_tokens=24, temperature=0
    )
    assert isinstance(value, dict)
    assert value["name"].strip().lower() == "ann" and value["age"] == 31


REAL_OWNER = textwrap.dedent(
    """
    import time
    from backprose.llm.local import Local
    client = Local()
    print(client.server.pid, flush=True)
    time.sleep(300)
    """
)


@pytest.mark.live
@pytest.mark.timeout(300)
def test_live_sigkill_of_the_owner_stops_the_real_server(local_llm: Local) -> None:
    from test_local_server import children, kill_all, wait_gone

    env = {k: v for k, v in os.environ.items() if k != "BACKPROSE_LOCAL_BASE_URL"}
    owner = subprocess.Popen([sys.executable, "-c", REAL_OWNER], stdout=subprocess.PIPE, text=True, env=env)
    pids: list[int] = []
    try:
        guard = int(owner.stdout.readline())
        pids = [guard, *children(guard)]
        assert len(pids) == 2
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert wait_gone(pids, timeout=30) == []
    finally:
        kill_all([owner.pid, *pids])


def busy_slots(client: Local) -> list[dict[str, Any]]:
    """The server's slots that are generating now (llama.cpp's /slots endpoint)."""
    with urllib.request.urlopen(client.base_url.removesuffix("/v1") + "/slots", timeout=10) as reply:
        return [slot for slot in json.load(reply) if slot["is_processing"]]


@pytest.mark.live
@pytest.mark.timeout(300)
def test_live_cancelled_request_stops_the_generation(local_llm: Local) -> None:
    """A cancelled call must free its slot at once, not decode its 2000 tokens (minutes here) for nobody."""
    if local_llm.server is None or local_llm.server.config.backend != local_server.XLLAMACPP:
        pytest.skip("only llama.cpp's own server stops generating for a client that went away")
    long_job = [{"role": "user", "content": "Write a long Python module: a linked list class with ten methods."}]

    async def start_then_cancel() -> None:
        task = asyncio.create_task(local_llm.acomplete(long_job, max_tokens=2000, temperature=0,
                                                       extra_body={"ignore_eos": True}))  # fmt: skip
        for _ in range(300):
            if busy_slots(local_llm):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the server never started the request")
        await asyncio.sleep(1.0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(start_then_cancel())
    # Look rarely: llama.cpp checks for a gone client only after a full second with no other result on its
    # queue, and each /slots answer is one. 30 s is far above the ~1 s it takes, far below the generation.
    for _ in range(12):
        time.sleep(2.5)
        if not busy_slots(local_llm):
            break
    assert busy_slots(local_llm) == []
    reply = local_llm.complete([{"role": "user", "content": "Say OK."}], max_tokens=3, temperature=0)
    assert reply.completion_tokens > 0
