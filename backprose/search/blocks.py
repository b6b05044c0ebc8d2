"""The building blocks an agent design may call: `llm`, `sample`, `llm_json`, `vote`, `last_number`.

A design is plain Python that runs in an isolated worker, so these blocks reach the model through a client
held in a ContextVar (set by the worker for one evaluation, or by `use_client`); with none set they fall
back to `backprose.llm.default()`. The meta agent is shown their signatures and docstrings, so keep them
few, short and exact.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_client: ContextVar[Any] = ContextVar("backprose_search_client", default=None)
_options: ContextVar[Mapping[str, Any] | None] = ContextVar("backprose_search_options", default=None)

__all__ = ["last_number", "llm", "llm_json", "sample", "vote"]


@contextmanager
def use_client(client: Any, **options: Any) -> Iterator[Any]:
    """Route the blocks to `client` (with default request `options`) inside this block only."""
    token, otoken = _client.set(client), _options.set(options)
    try:
        yield client
    finally:
        _client.reset(token)
        _options.reset(otoken)


def _current() -> Any:
    client = _client.get()
    if client is None:
        from backprose.llm import default

        client = default()
    return client


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    head = [{"role": "system", "content": str(system)}] if system else []
    return head + [{"role": "user", "content": str(prompt)}]


def llm(prompt: str, system: str | None = None, temperature: float = 0.0, max_tokens: int | None = None) -> str:
    """Ask the model once and return its reply text."""
    options = {**(_options.get() or {}), "temperature": temperature}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    return _current().complete(_messages(prompt, system), **options).text


def sample(prompt: str, n: int, system: str | None = None, temperature: float = 0.8,
           max_tokens: int | None = None) -> list[str]:
    """Ask the same prompt `n` times at `temperature`; returns `n` independent replies."""
    options = {**(_options.get() or {}), "temperature": temperature}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    client = _current()
    return [client.complete(_messages(prompt, system), sample_index=i, **options).text for i in range(n)]


def llm_json(prompt: str, fields: Mapping[str, str], system: str | None = None,
             temperature: float = 0.0) -> dict[str, str]:
    """Ask for a JSON object with the given string `fields` ({name: what it holds}); returns that dict."""
    from backprose.llm import complete_json

    schema = {"type": "object", "required": list(fields),
              "properties": {k: {"type": "string", "description": v} for k, v in fields.items()}}
    options = {**(_options.get() or {}), "temperature": temperature}
    value = complete_json(_current(), _messages(prompt, system), schema=schema, **options)
    return {k: str(v) for k, v in dict(value).items()}


def vote(answers: Sequence[Any]) -> Any:
    """The most common answer (the earliest one wins a tie); None for no answers."""
    if not answers:
        return None
    counts = Counter(answers)
    best = max(counts.values())
    return next(a for a in answers if counts[a] == best)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(text: str) -> str | None:
    """The last number written in `text` (commas dropped), e.g. "so 12,300 total." -> "12300"; else None."""
    found = _NUMBER.findall(str(text).replace(",", ""))
    if not found:
        return None
    value = found[-1]
    return value[:-2] if value.endswith(".0") else value


def describe() -> str:
    """Signatures and docstrings of the blocks, as shown to the meta agent."""
    import inspect

    lines = []
    for name in __all__:
        fn = globals()[name]
        signature = str(inspect.signature(fn, eval_str=True)).replace("collections.abc.", "").replace("typing.", "")
        lines.append(f"- `{name}{signature}`: {inspect.getdoc(fn)}")
    return "\n".join(lines)
