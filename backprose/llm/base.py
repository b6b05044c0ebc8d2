"""What every LLM client looks like: `complete(messages, **options) -> Completion` and its async twin.

`ClientBase` holds the plumbing shared by all clients (message checking, cache, usage accounting), so a
new backend only writes `_call` (and optionally `_acall`) for one request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from backprose.errors import InvalidMessages
from backprose.llm.accounting import Usage, cost_of, record
from backprose.llm.cache import ResponseCache, as_cache, request_key
from backprose.llm.limits import reserve_call

Message = dict[str, Any]
Messages = str | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Completion:
    """One model reply; `cached` says it came from a cache and cost nothing."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    finish_reason: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Completion:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@runtime_checkable
class LLM(Protocol):
    """Anything that answers chat messages. Messages are OpenAI-style dicts or one plain string."""

    usage: Usage

    def complete(self, messages: Messages, **options: Any) -> Completion: ...

    async def acomplete(self, messages: Messages, **options: Any) -> Completion: ...


def normalize_messages(messages: Messages) -> list[Message]:
    """A string becomes one user message; anything else must be a list of {"role", "content"} dicts."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
        raise InvalidMessages(f"got {type(messages).__name__}")
    out: list[Message] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise InvalidMessages(f"message {i} is {message!r}, which lacks a 'role' or 'content'")
        out.append(dict(message))
    if not out:
        raise InvalidMessages("the list is empty")
    return out


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters a token) for servers and doubles that report none."""
    return max(1, (len(text) + 3) // 4) if text else 0


def messages_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)


@dataclass(frozen=True)
class Request:
    """A normalized request: what is sent, plus the sample index that only the cache key sees."""

    messages: list[Message]
    options: dict[str, Any]
    sample_index: int | None = None

    def key(self, model: str | None) -> str:
        return request_key(model, self.messages, self.options, self.sample_index)


class ClientBase:
    """Cache lookups and usage accounting around one backend call.

    `options` are defaults for every request (temperature, max_tokens, seed, ...); per-call options win.
    Pass `sample_index=i` to ask for the i-th of several samples of the same prompt: it is part of the
    cache key (so n samples stay n different answers) but is never sent to the model.
    """

    model: str

    def __init__(
        self,
        *,
        cache: ResponseCache | str | bool | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.cache = as_cache(cache)
        self.default_options = dict(options or {})
        self.prices = dict(prices or {})
        self.usage = Usage()

    # Subclasses implement these for one uncached request.
    def _call(self, request: Request) -> Completion:
        raise NotImplementedError

    async def _acall(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._call, request)

    def _model_for_key(self) -> str | None:
        return self.model

    def _request(self, messages: Messages, options: dict[str, Any]) -> Request:
        sample_index = options.pop("sample_index", None)
        return Request(normalize_messages(messages), {**self.default_options, **options}, sample_index)

    def _lookup(self, request: Request) -> tuple[str | None, Completion | None]:
        if self.cache is None:
            return None, None
        key = request.key(self._model_for_key())
        hit = self.cache.get(key)
        if hit is None:
            return key, None
        completion = replace(Completion.from_dict(hit), cached=True)
        record(self.usage, cached=True)
        return key, completion

    def _finish(self, request: Request, key: str | None, completion: Completion, seconds: float) -> None:
        cost = cost_of(completion.model, completion.prompt_tokens, completion.completion_tokens, self.prices)
        record(
            self.usage,
            cached=False,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            seconds=seconds,
            cost=cost,
        )
        if self.cache is not None and key is not None:
            req = {"model": self._model_for_key(), "messages": request.messages, "options": request.options,
                   "sample_index": request.sample_index}
            self.cache.put(key, req, completion.to_dict())

    def complete(self, messages: Messages, **options: Any) -> Completion:
        """Answer `messages`; from the cache when it holds this exact request."""
        request = self._request(messages, options)
        key, hit = self._lookup(request)
        if hit is not None:
            return hit
        reserve_call()
        start = time.perf_counter()
        completion = self._call(request)
        self._finish(request, key, completion, time.perf_counter() - start)
        return completion

    async def acomplete(self, messages: Messages, **options: Any) -> Completion:
        """Async `complete`; the cache is SQLite on local disk, fast enough to read inline."""
        request = self._request(messages, options)
        key, hit = self._lookup(request)
        if hit is not None:
            return hit
        reserve_call()
        start = time.perf_counter()
        completion = await self._acall(request)
        self._finish(request, key, completion, time.perf_counter() - start)
        return completion

    def sample(self, messages: Messages, n: int, **options: Any) -> list[Completion]:
        """`n` independent samples of one prompt, each cached under its own sample index."""
        return [self.complete(messages, sample_index=i, **options) for i in range(n)]
