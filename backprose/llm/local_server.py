"""The embedded llama.cpp server as a child process: start, wait until healthy, stop, never orphan it.

Two servers can run the model. The default is llama.cpp's own server from the prebuilt `xllamacpp` wheel
(`xllama_server.py`): parallel slots decoded in one batch, generation stopped when a client goes away. The
fallback, used when `xllamacpp` is not importable, is llama-cpp-python's server (built from source; one
request at a time). Both run with `OMP_WAIT_POLICY=PASSIVE`: llama.cpp's OpenMP threads otherwise spin
while waiting, and on a machine with few cores that spinning starves the threads doing the work.

The server runs under `server_guard.py`, which stops it when this process exits or is killed. One server
is shared per process per configuration through a small lock-protected, reference-counted table: it is a
handle on an OS resource (a process and a port), not program state.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from backprose.errors import LocalModelUnavailable, LocalServerError

_GUARD = Path(__file__).with_name("server_guard.py")
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
INSTALL_HINT = "pip install 'backprose[local]'"
XLLAMACPP = "xllamacpp"  # llama.cpp's server from the prebuilt wheel: parallel slots, batched decoding
LLAMA_CPP_PYTHON = "llama-cpp-python"  # the fallback: llama-cpp-python's server, one request at a time
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerConfig:
    """Everything that makes two servers interchangeable; equal configs share one process."""

    model_path: Path
    alias: str
    n_ctx: int = 4096
    n_threads: int | None = None
    chat_format: str | None = None
    port: int | None = None
    extra_args: tuple[str, ...] = ()
    n_parallel: int = 4  # slots decoded together (xllamacpp only); `n_ctx` is per slot
    backend: str = XLLAMACPP

    def command(self, port: int) -> list[str]:
        """The server's command line for this config on `port`; both servers take the same flag names."""
        module = "backprose.llm.xllama_server" if self.backend == XLLAMACPP else "llama_cpp.server"
        cmd = [sys.executable, "-m", module, "--model", str(self.model_path),
               "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(self.n_ctx)]  # fmt: skip
        if self.n_threads:
            cmd += ["--n_threads", str(self.n_threads)]
        if self.backend == XLLAMACPP:
            cmd += ["--n_parallel", str(self.n_parallel)]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        return cmd + list(self.extra_args)


def preferred_backend() -> str | None:
    """`XLLAMACPP` when its wheel is importable, else `LLAMA_CPP_PYTHON` when that server is, else None
    (checked without importing either)."""
    if importlib.util.find_spec("xllamacpp") is not None:
        return XLLAMACPP
    if all(importlib.util.find_spec(name) is not None for name in _SERVER_MODULES):
        return LLAMA_CPP_PYTHON
    return None


def server_available() -> bool:
    """True when either server can run."""
    return preferred_backend() is not None


class LocalServer:
    """One running model server, started through the guard with its output going to a log file."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        startup_timeout: float = 180.0,
        log_path: Path | None = None,
        command: list[str] | None = None,
    ) -> None:
        if command is None and not server_available():
            raise LocalModelUnavailable(
                f"the embedded model needs xllamacpp (or llama-cpp-python with its server extra), and neither "
                f"is installed. Fix: {INSTALL_HINT}, or set BACKPROSE_LOCAL_BASE_URL to a running "
                f"OpenAI-compatible server."
            )
        self.config = config
        self.port = config.port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        if log_path is None:
            from backprose.llm.model_files import cache_dir

            log_path = cache_dir() / "logs" / f"llama-server-{config.alias}-{self.port}.log"
        self.log_path = log_path
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = self.log_path.open("wb")
        cmd = command if command is not None else config.command(self.port)
        self.process = subprocess.Popen(
            [sys.executable, str(_GUARD), str(os.getpid()), "--", *cmd],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._finalizer = weakref.finalize(self, _shutdown, self.process, self._log)
        try:
            self._wait_healthy(startup_timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local model server ready: %s at %s (%s), log %s", config.alias, self.base_url,
                 f"{XLLAMACPP}, {config.n_parallel} parallel slots" if config.backend == XLLAMACPP
                 else f"{config.backend}, one request at a time", self.log_path)  # fmt: skip

    @property
    def pid(self) -> int:
        """Pid of the guard process (the server is its only child)."""
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server and its guard; safe to call twice."""
        self._finalizer()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"the local model server exited with code {self.process.returncode} before it was "
                    f"ready. Fix the cause shown in its log ({self.log_path}); last lines:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        else:
            raise LocalServerError(
                f"the local model server did not answer at {self.base_url} within {timeout:.0f}s. Raise "
                f"startup_timeout=... on a slow machine, or read its log ({self.log_path}); last lines:\n"
                f"{self.log_tail()}"
            )
        self._warm_up(max(deadline - time.monotonic(), 5.0))

    def _warm_up(self, timeout: float) -> None:
        """One-token completion: a server that crashes on inference (a bad build) fails here, at start,
        with its log, instead of as a refused connection on the first real request."""
        body = json.dumps({"prompt": "Hello", "max_tokens": 1, "temperature": 0}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/completions", body, {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return
        except (urllib.error.URLError, OSError) as err:
            failure = err
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        code = self.process.poll()
        hint = ""
        if code == 128 + signal.SIGSEGV:
            hint = (
                " llama.cpp crashed (SIGSEGV). On CPUs with AMX (Intel Sapphire Rapids and newer) builds "
                f"made with -march=native crash in the AMX kernels. Use the prebuilt wheel ({INSTALL_HINT} "
                "installs xllamacpp), or reinstall llama-cpp-python without them: "
                'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
                "pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python."
            )
        raise LocalServerError(
            f"the local model server failed its first completion ({failure}; exit code {code})."
            f"{hint} Its log ({self.log_path}) ends with:\n{self.log_tail()}"
        )


def _shutdown(process: subprocess.Popen[bytes], log: IO[bytes], grace: float = 15.0) -> None:
    """Closing the guard's stdin asks it to stop the server; SIGKILL is the last resort (the server then
    still gets SIGTERM from its own parent-death signal)."""
    if process.poll() is None:
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    elif process.stdin is not None:
        process.stdin.close()
    log.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_lock = threading.Lock()
_shared: dict[ServerConfig, tuple[LocalServer, int]] = {}


def acquire(config: ServerConfig, *, startup_timeout: float = 180.0) -> LocalServer:
    """The process-wide server for `config`, started on first use; pair every call with `release`."""
    with _lock:
        server, users = _shared.get(config, (None, 0))
        if server is None or not server.alive():
            server, users = LocalServer(config, startup_timeout=startup_timeout), 0
        _shared[config] = (server, users + 1)
        return server


def release(config: ServerConfig, server: LocalServer | None = None) -> None:
    """Drop one user of the shared server; the last one stops it. Passing the `server` that was
    acquired keeps a user of a server that died and was replaced from releasing the replacement."""
    with _lock:
        current, users = _shared.get(config, (None, 0))
        if server is not None and current is not server:
            server.stop()
            return
        server = current
        if server is None:
            return
        if users > 1:
            _shared[config] = (server, users - 1)
            return
        del _shared[config]
    server.stop()
