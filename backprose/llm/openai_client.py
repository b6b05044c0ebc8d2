"""A client for any OpenAI-compatible chat server: OpenAI, vLLM, Ollama, LiteLLM proxy, llama.cpp.

Our own retries (see `retry.py`) replace the openai package's, a semaphore caps requests in flight, and
every failure leaves as an error that names its cause and its fix rather than a deep traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import openai

from backprose.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMModelNotFound,
    LLMRateLimited,
    LLMServerError,
    LLMTimeoutError,
)
from backprose.llm.base import ClientBase, Completion, Request, messages_tokens
from backprose.llm.cache import ResponseCache
from backprose.llm.retry import async_retrying, retrying

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_KEY = "not-needed"  # local servers ignore the key, but the openai package insists on one


def _detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause):
        message = f"{message} ({cause})"
    return message if len(message) <= 300 else message[:300] + "..."


class OpenAI(ClientBase):
    """Chat completions over HTTP. Arguments left out come from the environment:
    `BACKPROSE_MODEL`, `BACKPROSE_BASE_URL` and `OPENAI_API_KEY`.

    With a custom `base_url` and no model, the server's first listed model is used (local servers
    usually serve exactly one). `max_concurrency` caps requests in flight: across threads for
    `complete`, and per event loop for `acomplete` (an asyncio semaphore belongs to one loop).
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_concurrency: int = 8,
        timeout: float = 60.0,
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
        self.base_url = (base_url or os.environ.get("BACKPROSE_BASE_URL") or OPENAI_URL).rstrip("/")
        custom = self.base_url != OPENAI_URL
        key = api_key or os.environ.get("OPENAI_API_KEY") or (LOCAL_KEY if custom else None)
        if key is None:
            raise LLMAuthError(self.base_url, "no API key was given and OPENAI_API_KEY is not set")
        self._model = model or os.environ.get("BACKPROSE_MODEL") or (None if custom else DEFAULT_MODEL)
        self._key_model = self._model  # fixed at construction: resolving the model later must not move keys
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_initial = retry_initial
        self.retry_max_wait = retry_max_wait
        # How complete_json asks for JSON: "json_schema", "json_object_schema", "json_object" or "none";
        # None lets it find out (and remember) what this server accepts.
        self.response_format_style = response_format_style or (None if custom else "json_schema")
        self._key = key
        self._sync = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0)
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
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
            with self._lock:
                if self._model is None:
                    self._model = self._resolve_model()
        return self._model

    def _resolve_model(self) -> str:
        try:
            for attempt in retrying(self.max_retries, self.retry_initial, self.retry_max_wait):
                with attempt:
                    ids = [m.id for m in self._sync.models.list()]
        except Exception as exc:
            raise self._translate(exc, "(server default)", 0) from exc
        if not ids:
            raise LLMModelNotFound("(any)", self.base_url, "the server lists no models")
        return ids[0]

    def _model_for_key(self) -> str | None:
        # Never touches the network, so replaying a cache works with the server switched off.
        # Concurrent first calls race the model lookup, so a key that switched to the resolved name would
        # depend on timing and a rerun would miss the cache.
        return self._key_model or f"default@{self.base_url}"

    # -- calls ---------------------------------------------------------------------------------------

    def _call(self, request: Request) -> Completion:
        model = self.model
        attempts = 0
        try:
            for attempt in retrying(self.max_retries, self.retry_initial, self.retry_max_wait):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    with self._semaphore:
                        response = self._sync.chat.completions.create(
                            model=model, messages=request.messages, **request.options
                        )
        except Exception as exc:
            raise self._translate(exc, model, attempts) from exc
        return self._completion(response, model, request)

    async def _acall(self, request: Request) -> Completion:
        model = self._model or await asyncio.to_thread(lambda: self.model)
        client, semaphore = self._loop_parts()
        attempts = 0
        try:
            async for attempt in async_retrying(self.max_retries, self.retry_initial, self.retry_max_wait):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    async with semaphore:
                        response = await client.chat.completions.create(
                            model=model, messages=request.messages, **request.options
                        )
        except Exception as exc:
            raise self._translate(exc, model, attempts) from exc
        return self._completion(response, model, request)

    def _loop_parts(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """One async client and one semaphore per running event loop, since both are bound to it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            parts = self._per_loop.get(loop)
            if parts is None:
                # Our own http client: the default one closes itself on garbage collection by
                # scheduling on whatever loop is running then, which fails once its own loop is closed.
                client = openai.AsyncOpenAI(
                    api_key=self._key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=0,
                    http_client=openai.DefaultAsyncHttpxClient(timeout=self.timeout),
                )
                parts = (client, asyncio.Semaphore(self.max_concurrency))
                self._per_loop[loop] = parts
        return parts

    def _completion(self, response: Any, model: str, request: Request) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise LLMServerError(self.base_url, None, f"the reply has no choices: {str(response)[:200]}")
        choice = choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        return Completion(
            text=text,
            model=getattr(response, "model", None) or model,
            prompt_tokens=prompt_tokens if prompt_tokens is not None else messages_tokens(request.messages),
            completion_tokens=completion_tokens if completion_tokens is not None else len(text) // 4,
            finish_reason=getattr(choice, "finish_reason", None),
            raw=response.model_dump(mode="json") if hasattr(response, "model_dump") else None,
        )

    # -- errors --------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, model: str, attempts: int) -> BaseException:
        """Turn an openai-package failure into our error that names the cause and the fix."""
        url = self.base_url
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
        if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError)):
            return LLMServerError(url, None, f"body is not a chat completion ({exc}), {attempts} attempts")
        return exc

    # -- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connections of the sync client."""
        self._sync.close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
