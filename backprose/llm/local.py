"""`Local`: the OpenAI client, pointed at an embedded llama.cpp server that runs a small model on the CPU.

It makes backprose usable with no account and no network: `Local()` assembles the default model from its
pip packages (once), starts llama.cpp's server as a guarded child process and talks to it over the same
OpenAI-compatible HTTP path as any other server, so retries, caching and accounting behave identically.
The server decodes up to `n_parallel` requests together, so concurrent calls (a trainer's rollouts) run
at once instead of queueing.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backprose.errors import InvalidOption
from backprose.llm.local_server import (
    INSTALL_HINT,
    LLAMA_CPP_PYTHON,
    XLLAMACPP,
    LocalServer,
    ServerConfig,
    acquire,
    preferred_backend,
    release,
)
from backprose.llm.model_files import DEFAULT_MODEL, MODELS, ensure_model
from backprose.llm.openai_client import LOCAL_KEY, OpenAI

BASE_URL_ENV = "BACKPROSE_LOCAL_BASE_URL"
# With an external server: the `response_format` it takes (json_schema, json_object_schema, json_object or
# none), when known; unset, complete_json finds out and optimizers ask for JSON in words only.
FORMAT_ENV = "BACKPROSE_LOCAL_RESPONSE_FORMAT"
FORMAT_STYLES = ("json_schema", "json_object_schema", "json_object", "none")
log = logging.getLogger(__name__)
# How each server takes a JSON schema: llama.cpp's own server the OpenAI way, llama-cpp-python's as a
# schema inside `json_object`.
_RESPONSE_FORMAT = {XLLAMACPP: "json_schema", LLAMA_CPP_PYTHON: "json_object_schema"}


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
    `n_ctx` is the context of each of the `n_parallel` slots; `max_concurrency` (requests in flight from
    this client) defaults to `n_parallel`, or 1 on the llama-cpp-python fallback, which serves one request
    at a time. Remaining keyword arguments go to `OpenAI` (cache, max_retries, ...).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        n_parallel: int = 4,
        n_threads: int | None = None,
        port: int | None = None,
        startup_timeout: float = 180.0,
        server_args: Sequence[str] = (),
        max_concurrency: int | None = None,
        timeout: float = 600.0,
        **client_options: Any,
    ) -> None:
        self.server: LocalServer | None = None
        external = os.environ.get(BASE_URL_ENV)
        served: str | None
        style: str | None = None  # an external server: complete_json finds out what it accepts
        if external:
            base_url, served = external, None  # ask the running server which model it serves
            style = _external_style()
        else:
            backend = preferred_backend() or XLLAMACPP  # none installed: LocalServer says how to fix it
            if backend != XLLAMACPP:
                log.warning("xllamacpp is not installed: the local model runs on llama-cpp-python's server, one "
                            "request at a time (%s installs the faster one)", INSTALL_HINT)  # fmt: skip
                n_parallel = 1
            style = _RESPONSE_FORMAT[backend]
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
                n_parallel=n_parallel,
                backend=backend,
            )
            self.server = acquire(config, startup_timeout=startup_timeout)
            self._release = weakref.finalize(self, release, config, self.server)
            base_url = self.server.base_url
        client_options.setdefault("response_format_style", style)
        super().__init__(
            served,
            base_url,
            LOCAL_KEY,
            max_concurrency=max_concurrency or n_parallel,
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


def _external_style() -> str | None:
    style = os.environ.get(FORMAT_ENV) or None
    if style is not None and style not in FORMAT_STYLES:
        raise InvalidOption(FORMAT_ENV, style, "not a response format style",
                            f"set one of {', '.join(FORMAT_STYLES)}, or unset it to let backprose find out")
    return style
