"""A client for any OpenAI-compatible chat server: OpenAI, vLLM, Ollama, LiteLLM proxy, llama.cpp.

Our own retries (see `retry.py`) replace the openai package's, a semaphore caps requests in flight, a
deadline bounds the whole call, and every failure leaves as an error that names its cause and its fix
rather than a deep traceback. Sync calls run the async code on the client's own event loop thread, so both
behave the same, deadline included.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import openai

from backprose.errors import (
    LLMAuthError,
    LLMBadReply,
    LLMConnectionError,
    LLMError,
    LLMModelNotFound,
    LLMRateLimited,
    LLMServerError,
    LLMTimeoutError,
)
from backprose.llm.background import BackgroundLoop
from backprose.llm.base import ClientBase, Completion, Request
from backprose.llm.cache import ResponseCache
from backprose.llm.chat_reply import parse_completion
from backprose.llm.retry import RetryPolicy, retrying

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_KEY = "not-needed"  # local servers ignore the key, but the openai package insists on one
T = TypeVar("T")


def _detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause):
        message = f"{message} ({cause})"
    return message if len(message) <= 300 else message[:300] + "..."


class OpenAI(ClientBase):
    """Chat completions over HTTP. Arguments left out come from the environment:
    `BACKPROSE_MODEL`, `BACKPROSE_BASE_URL` and `OPENAI_API_KEY`.

    `timeout` bounds the whole call: every attempt, and the waits between them, from the moment the first
    attempt is sent (time queued behind `max_concurrency` before that is not counted). `attempt_timeout`
    (default: none) bounds one attempt, connection and whole reply, so a stuck attempt can be retried
    while `timeout` lasts. Neither is a per-read limit, so a server that drips its reply a byte at a time
    cannot stretch a call.

    With a custom `base_url` and no model, the server's first listed model is used (local servers
    usually serve exactly one). `max_concurrency` caps requests in flight: across threads for
    `complete` (they share the client's loop), and per event loop for `acomplete` (an asyncio semaphore
    belongs to one loop).
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_concurrency: int = 8,
        timeout: float = 600.0,
        attempt_timeout: float | None = None,
        max_retries: int = 4,
        retry_initial: float = 0.5,
        retry_max_wait: float = 30.0,
        cache: ResponseCache | str | bool | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        options: Mapping[str, Any] | None = None,
        response_format_style: str | None = None,
    ) -> None:
        super().__init__(cache=cache, prices=prices, options=options)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not timeout > 0 or (attempt_timeout is not None and not attempt_timeout > 0):
            raise ValueError(f"timeout and attempt_timeout must be > 0 seconds or None (attempt_timeout), got "
                             f"timeout={timeout!r}, attempt_timeout={attempt_timeout!r}")
        self.base_url = (base_url or os.environ.get("BACKPROSE_BASE_URL") or OPENAI_URL).rstrip("/")
        custom = self.base_url != OPENAI_URL
        key = api_key or os.environ.get("OPENAI_API_KEY") or (LOCAL_KEY if custom else None)
        if key is None:
            raise LLMAuthError(self.base_url, "no API key was given and OPENAI_API_KEY is not set")
        self._model = model or os.environ.get("BACKPROSE_MODEL") or (None if custom else DEFAULT_MODEL)
        self._key_model = self._model  # fixed at construction: resolving the model later must not move keys
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.max_retries = max_retries
        self.retry_initial = retry_initial
        self.retry_max_wait = retry_max_wait
        # How complete_json asks for JSON: "json_schema", "json_object_schema", "json_object" or "none";
        # None lets it find out (and remember) what this server accepts.
        self.response_format_style = response_format_style or (None if custom else "json_schema")
        self._key = key
        self._background = BackgroundLoop("backprose-llm")
        self._lock = threading.Lock()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                  tuple[openai.AsyncOpenAI, asyncio.Semaphore]]
        self._per_loop = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"OpenAI(model={self._model!r}, base_url={self.base_url!r})"

    # -- model name ----------------------------------------------------------------------------------

    @property
    def model(self) -> str:  # type: ignore[override]
        """The model name; asks the server for its first model when none was configured."""
        if self._model is None:
            self._set_model(self._background.run(self._first_model()))
        assert self._model is not None
        return self._model

    async def _amodel(self) -> str:
        if self._model is None:
            self._set_model(await self._first_model())
        assert self._model is not None
        return self._model

    def _set_model(self, name: str) -> None:
        with self._lock:
            if self._model is None:  # concurrent first calls may both ask; the first answer stays
                self._model = name

    async def _first_model(self) -> str:
        def first(raw: bytes) -> str:
            try:
                data = json.loads(raw).get("data") or []
                ids = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
            except (UnicodeDecodeError, ValueError, AttributeError) as exc:
                raise LLMBadReply(self.base_url, f"the model list is not JSON ({exc})", transient=True) from exc
            if not ids:
                raise LLMModelNotFound("(any)", self.base_url, "the server lists no models")
            return ids[0]

        return await self._send(lambda client: client.models.with_raw_response.list(), first,
                                "(server default)", "the model list")

    def _model_for_key(self) -> str | None:
        # Never touches the network, so replaying a cache works with the server switched off.
        # Concurrent first calls race the model lookup, so a key that switched to the resolved name would
        # depend on timing and a rerun would miss the cache.
        return self._key_model or f"default@{self.base_url}"

    # -- calls ---------------------------------------------------------------------------------------

    def _call(self, request: Request) -> Completion:
        return self._background.run(self._acall(request))

    async def _acall(self, request: Request) -> Completion:
        model = await self._amodel()
        return await self._send(
            lambda client: client.chat.completions.with_raw_response.create(
                model=model, messages=request.messages, **request.options),
            lambda raw: parse_completion(raw, self.base_url, model, request),
            model, "a chat completion")

    async def _send(self, send: Callable[[openai.AsyncOpenAI], Awaitable[Any]], read: Callable[[bytes], T],
                    model: str, what: str) -> T:
        """One request with retries, under `timeout` for the whole call and `attempt_timeout` per attempt.

        The clock starts when the first attempt gets a slot under `max_concurrency`: waiting behind this
        client's own queue is not the server's slowness. Backoff waits and later queueing count.
        """
        client, semaphore = self._loop_parts()
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempts = 0

        def remaining() -> float | None:
            return None if deadline is None else deadline - loop.time()

        async def attempt(number: int) -> T:
            nonlocal deadline, attempts
            attempts = number
            async with semaphore:
                if deadline is None:
                    deadline = loop.time() + self.timeout
                left = deadline - loop.time()
                per_attempt = self.attempt_timeout is not None and self.attempt_timeout < left
                limit = self.attempt_timeout if per_attempt else left
                if limit <= 0:
                    raise LLMTimeoutError(self.base_url, self.timeout, number - 1)
                try:
                    response = await asyncio.wait_for(send(client), limit)
                except asyncio.TimeoutError:
                    raise LLMTimeoutError(self.base_url, limit if per_attempt else self.timeout, number,
                                          per_attempt=per_attempt) from None
            return read(response.http_response.content)

        policy = RetryPolicy(self.max_retries, self.retry_initial, self.retry_max_wait)
        try:
            return await retrying(attempt, policy, remaining, f"{what} from {self.base_url}")
        except Exception as exc:
            raise self._translate(exc, model, attempts) from exc

    def _loop_parts(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """One async client and one semaphore per running event loop, since both are bound to it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            parts = self._per_loop.get(loop)
            if parts is None:
                # Our own http client: the default one closes itself on garbage collection by
                # scheduling on whatever loop is running then, which fails once its own loop is closed.
                # No httpx timeouts: `_send` bounds every attempt as a whole, reads included.
                client = openai.AsyncOpenAI(
                    api_key=self._key,
                    base_url=self.base_url,
                    timeout=None,
                    max_retries=0,
                    http_client=openai.DefaultAsyncHttpxClient(timeout=None),
                )
                parts = (client, asyncio.Semaphore(self.max_concurrency))
                self._per_loop[loop] = parts
        return parts

    # -- errors --------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, model: str, attempts: int) -> BaseException:
        """Turn an openai-package failure into our error that names the cause and the fix."""
        url = self.base_url
        if isinstance(exc, LLMBadReply):  # raised inside one attempt; now the count is known
            return LLMBadReply(url, exc.detail, transient=exc.transient, attempts=attempts)
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return LLMTimeoutError(url, self.timeout, attempts)
        if isinstance(exc, openai.APIConnectionError):
            return LLMConnectionError(url, f"{_detail(exc)}, after {attempts} attempts")
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMAuthError(url, _detail(exc))
        if isinstance(exc, openai.NotFoundError):
            return LLMModelNotFound(model, url, _detail(exc))
        if isinstance(exc, openai.RateLimitError):
            return LLMRateLimited(url, attempts, _detail(exc))
        if isinstance(exc, openai.APIStatusError):
            return LLMServerError(url, exc.status_code, _detail(exc))
        return exc

    # -- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections of sync calls and stop their event loop (async clients close with their
        loop)."""
        loop = self._background.loop
        parts = self._per_loop.get(loop) if loop is not None else None
        if parts is not None:
            self._background.run(parts[0].close())
        self._background.close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
