"""Which client `bp.llm.default()` returns: explicit configuration, then the environment, then local.

The explicit choice lives in a ContextVar, so `with bp.llm.configure(client):` is safe under threads and
asyncio and nests; new threads start from an empty context unless run via `contextvars.copy_context()`.
"""

from __future__ import annotations

import os
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

from backprose.errors import LLMNotConfigured
from backprose.llm.base import LLM

_configured: ContextVar[LLM | None] = ContextVar("backprose_llm_client", default=None)

ENV_VARS = ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY")


class configure:
    """Make `client` the default: for the rest of the context, or, used with `with`, for the block only."""

    def __init__(self, client: LLM) -> None:
        self.client = client
        self._token: Token[LLM | None] = _configured.set(client)

    def __enter__(self) -> LLM:
        return self.client

    def __exit__(self, *exc: object) -> None:
        _configured.reset(self._token)


def configured() -> LLM | None:
    """The explicitly configured client, if any."""
    return _configured.get()


def default() -> LLM:
    """The client to use when none is passed: configured, else from the environment, else local."""
    client = _configured.get()
    if client is not None:
        return client
    base_url, model, key = (os.environ.get(name) or None for name in ENV_VARS)
    if base_url or model or key:
        cache = bool(os.environ.get("BACKPROSE_CACHE_DIR") or os.environ.get("BACKPROSE_CACHE_MODE"))
        return _from_env(base_url, model, key, cache)
    return _local()


# Memoized so that repeated default() calls share one client (its connections, semaphore and usage).
@lru_cache(maxsize=8)
def _from_env(base_url: str | None, model: str | None, key: str | None, cache: bool) -> LLM:
    from backprose.llm.openai_client import OpenAI

    return OpenAI(model=model, base_url=base_url, api_key=key, cache=cache or None)


@lru_cache(maxsize=1)
def _local() -> Any:
    try:
        from backprose.llm.local import Local

        return Local()
    except ImportError as err:
        raise LLMNotConfigured(f"importing it failed: {err}") from err
