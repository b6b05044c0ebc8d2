"""The LLM layer: clients, structured output, a response cache, usage accounting and test doubles.

It knows nothing of tracing or nodes; everything above it talks to a model through `LLM.complete`.
"""

from __future__ import annotations

from typing import Any

from backprose.llm.accounting import Usage, track_usage
from backprose.llm.base import LLM, ClientBase, Completion
from backprose.llm.cache import ResponseCache
from backprose.llm.config import configure, default
from backprose.llm.limits import limit_calls
from backprose.llm.openai_client import OpenAI
from backprose.llm.scripted import Recorder, Replay, Scripted
from backprose.llm.structured import acomplete_json, complete_json

__all__ = [
    "LLM",
    "ClientBase",
    "Completion",
    "Local",
    "OpenAI",
    "Recorder",
    "Replay",
    "ResponseCache",
    "Scripted",
    "Usage",
    "acomplete_json",
    "complete_json",
    "configure",
    "default",
    "limit_calls",
    "track_usage",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import backprose.llm` never loads llama_cpp.
    if name == "Local":
        from backprose.llm.local import Local

        return Local
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
