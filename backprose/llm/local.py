"""`Local`: the OpenAI client, pointed at an embedded llama.cpp server that runs a small model on the CPU.

It makes backprose usable with no account and no network: `Local()` assembles the default model from its
pip packages (once), starts `llama_cpp.server` as a guarded child process and talks to it over the same
OpenAI-compatible HTTP path as any other server, so retries, caching and accounting behave identically.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backprose.llm.local_server import LocalServer, ServerConfig, acquire, release
from backprose.llm.model_files import DEFAULT_MODEL, MODELS, ensure_model
from backprose.llm.openai_client import LOCAL_KEY, OpenAI

BASE_URL_ENV = "BACKPROSE_LOCAL_BASE_URL"


def available_cores() -> int:
    """Cores this process may run on (llama.cpp's own default is half of them, too few on small boxes)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Local(OpenAI):
    """A client for a local GGUF model served by llama.cpp in a child process.

    `model` is a known name (see `backprose.llm.model_files.MODELS`; default the 0.5B Qwen2.5-Coder), or
    a path to any GGUF file. Clients with the same settings share one server per process; it stops when
    the last of them is closed, garbage-collected, or the interpreter exits, and it dies with this process
    even on SIGKILL. If `BACKPROSE_LOCAL_BASE_URL` is set, no server is started and that one is used.
    Remaining keyword arguments go to `OpenAI` (cache, max_retries, ...).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        port: int | None = None,
        startup_timeout: float = 180.0,
        server_args: Sequence[str] = (),
        max_concurrency: int = 1,
        timeout: float = 600.0,
        **client_options: Any,
    ) -> None:
        self.server: LocalServer | None = None
        external = os.environ.get(BASE_URL_ENV)
        served: str | None
        if external:
            base_url, served = external, None  # ask the running server which model it serves
        else:
            name = str(model) if model is not None else DEFAULT_MODEL
            path = ensure_model(name)
            spec = MODELS.get(name)
            served = spec.name if spec else Path(path).stem
            config = ServerConfig(
                model_path=path,
                alias=served,
                n_ctx=n_ctx,
                n_threads=n_threads or available_cores(),
                chat_format=spec.chat_format if spec else None,  # else the GGUF's own chat template
                port=port,
                extra_args=tuple(server_args),
            )
            self.server = acquire(config, startup_timeout=startup_timeout)
            self._release = weakref.finalize(self, release, config, self.server)
            base_url = self.server.base_url
        client_options.setdefault("response_format_style", "json_object_schema")  # llama-cpp-python's
        super().__init__(
            served,
            base_url,
            LOCAL_KEY,
            max_concurrency=max_concurrency,
            timeout=timeout,
            **client_options,
        )

    def __repr__(self) -> str:
        return f"Local(model={self._model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close connections and give back this client's share of the server."""
        super().close()
        if self.server is not None:
            self._release()

    def __enter__(self) -> Local:
        return self
