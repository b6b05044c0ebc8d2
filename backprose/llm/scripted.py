"""Deterministic stand-ins for a model: `Scripted` replies, `Replay` of a recorded run, and `Recorder`.

They implement the same protocol as real clients (usage, cache, async), so a workflow under test runs the
exact code path it runs in production, with no network and the same answers every time.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backprose.errors import CacheMiss
from backprose.llm.base import (
    LLM,
    ClientBase,
    Completion,
    Message,
    Messages,
    Request,
    messages_tokens,
    normalize_messages,
)
from backprose.llm.base import estimate_tokens as _tokens
from backprose.llm.cache import request_key

Responder = Callable[[list[Message]], str | Completion]


class Scripted(ClientBase):
    """Replies from a list (in order) or a function of the messages; records every prompt.

    A list item that is an exception instance is raised instead of answered, to script failures; a
    `Completion` is returned as it is (its model and token counts included), to script e.g. a reply cut at
    its token limit (`finish_reason="length"`). When the list runs out, an IndexError says how many replies
    were scripted and which prompt asked for one more.
    """

    def __init__(
        self,
        responses: Sequence[str | Completion | BaseException] | Responder,
        *,
        model: str = "scripted",
        cache: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(cache=cache, options=options)
        self.model = model
        self._responder = responses if callable(responses) else None
        self._responses = list(responses) if not callable(responses) else []
        self._next = 0
        self._lock = threading.Lock()
        self.prompts: list[list[Message]] = []
        self.calls: list[Request] = []

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet (0 for a function)."""
        return len(self._responses) - self._next

    def _call(self, request: Request) -> Completion:
        with self._lock:
            self.prompts.append(request.messages)
            self.calls.append(request)
            if self._responder is None:
                if self._next >= len(self._responses):
                    last = request.messages[-1]["content"]
                    raise IndexError(
                        f"Scripted ran out of replies: {len(self._responses)} were scripted and call "
                        f"{self._next + 1} asked for another (last message: {str(last)[:120]!r}); "
                        "add replies or pass a function"
                    )
                reply = self._responses[self._next]
                self._next += 1
            else:
                reply = self._responder(request.messages)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        return Completion(
            text=reply,
            model=self.model,
            prompt_tokens=messages_tokens(request.messages),
            completion_tokens=_tokens(reply),
            finish_reason="stop",
        )


def replay_key(request: Request) -> str:
    """Replay and Recorder key a request without the model name, so a run recorded with one model
    replays wherever the same prompts are asked."""
    return request_key(None, request.messages, request.options, request.sample_index)


def _load_jsonl(path: Path) -> dict[str, str]:
    recorded: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                # A killed recorder can leave half a last line; everything before it is still good.
                continue
            if "key" not in row or "text" not in row:
                raise ValueError(f"{path}:{line_no}: a recorded line needs 'key' and 'text'")
            recorded[row["key"]] = row["text"]
    return recorded


class Replay(ClientBase):
    """Answers from recorded replies keyed by request hash: a dict, or a JSONL file a `Recorder` wrote.

    A request that was not recorded raises `CacheMiss` naming its hash, so a test fails loudly when the
    workflow asks something new instead of silently calling a model.
    """

    def __init__(
        self,
        recorded: Mapping[str, str] | str | os.PathLike[str],
        *,
        model: str = "replay",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(options=options)
        self.model = model
        if isinstance(recorded, Mapping):
            self.source = "the replay dict"
            self.recorded = dict(recorded)
        else:
            self.source = str(recorded)
            self.recorded = _load_jsonl(Path(recorded))

    def _call(self, request: Request) -> Completion:
        key = replay_key(request)
        if key not in self.recorded:
            raise CacheMiss(key, self.source)
        text = self.recorded[key]
        return Completion(text, self.model, messages_tokens(request.messages), _tokens(text), False, "stop")


class Recorder:
    """Wraps a real client and appends every answered request to a JSONL file that `Replay` reads."""

    def __init__(self, client: LLM, path: str | os.PathLike[str]) -> None:
        self.client = client
        self.path = Path(path)
        self.usage = client.usage
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # model, base_url, response_format_style, ...
        return getattr(self.client, name)

    def _write(self, messages: Messages, options: dict[str, Any], completion: Completion) -> None:
        sample_index = options.pop("sample_index", None)
        defaults = getattr(self.client, "default_options", {})
        request = Request(normalize_messages(messages), {**defaults, **options}, sample_index)
        row = {"key": replay_key(request), "messages": request.messages, "options": request.options,
               "sample_index": sample_index, "model": completion.model, "text": completion.text}
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)

    def complete(self, messages: Messages, **options: Any) -> Completion:
        completion = self.client.complete(messages, **options)
        self._write(messages, dict(options), completion)
        return completion

    async def acomplete(self, messages: Messages, **options: Any) -> Completion:
        completion = await self.client.acomplete(messages, **options)
        self._write(messages, dict(options), completion)
        return completion

