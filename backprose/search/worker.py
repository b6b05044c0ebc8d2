"""What runs inside an isolation worker: build the agents' client from plain data, then run a design.

Designs never run in the searcher's process. The searcher sends the design's source with `SUFFIX` appended
(so line numbers in errors are the design's own), plus a client configuration as plain data; the worker
builds the client, runs `forward` on each task and returns the answers with the calls it made.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from backprose.search.blocks import use_client

# Appended to a design's source. Names start with `__bp_` so a design cannot collide with them by accident.
SUFFIX = '''

def __bp_evaluate__(__bp_inputs, __bp_client, __bp_prompts=None):
    from backprose.search.worker import run_design
    return run_design(globals(), __bp_inputs, __bp_client, __bp_prompts)
'''
ENTRY = "__bp_evaluate__"


def client_from_config(config: Mapping[str, Any]) -> Any:
    """A client from plain data: {"kind": "openai" | "scripted" | "python" | "replay", ...}.

    - openai: `base_url`, `model`, `options`, `cache` (a directory or file path; shared on disk, so a
      resumed search repeats no call), `max_concurrency`, `timeout`;
    - scripted: `replies`, a list answered in order (fresh for every evaluation);
    - python: `source` defining `reply(messages, options) -> str`, a deterministic stand-in model;
    - replay: `path` of a JSONL file a `Recorder` wrote.
    """
    from backprose.llm import OpenAI, Replay, Scripted

    kind = config.get("kind", "openai")
    options = dict(config.get("options") or {})
    if kind == "openai":
        return OpenAI(config.get("model"), config["base_url"], config.get("api_key"), options=options,
                      cache=config.get("cache"), max_concurrency=int(config.get("max_concurrency", 1)),
                      timeout=float(config.get("timeout", 600.0)),
                      response_format_style=config.get("response_format_style"))
    if kind == "scripted":
        return Scripted(list(config["replies"]), options=options, cache=config.get("cache"))
    if kind == "python":
        namespace: dict[str, Any] = {}
        exec(compile(config["source"], "<stand-in model>", "exec"), namespace)
        reply = namespace["reply"]
        return Scripted(lambda messages: reply(messages, options), options=options, cache=config.get("cache"))
    if kind == "replay":
        return Replay(config["path"], options=options)
    raise ValueError(f"unknown client kind {kind!r}; use openai, scripted, python or replay")


def apply_prompts(namespace: dict[str, Any], prompts: Mapping[str, str] | None) -> None:
    """Put tuned prompt values into a design: "PROMPTS.key" entries and module-level constants by name."""
    for key, value in (prompts or {}).items():
        if key.startswith("PROMPTS."):
            namespace.setdefault("PROMPTS", {})[key[len("PROMPTS."):]] = value
        else:
            namespace[key] = value


def _design_error(exc: BaseException, filename: str) -> dict[str, Any]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    last = frames[-1] if frames else None
    shown = "".join(traceback.format_list(frames)) if frames else ""
    return {"error_type": type(exc).__name__, "error_message": str(exc)[:2000],
            "lineno": last.lineno if last else None, "source_line": (last.line or None) if last else None,
            "traceback": f"Traceback (design frames only):\n{shown}{type(exc).__name__}: {exc}"[:4000]}


def run_design(namespace: dict[str, Any], inputs: Sequence[Any], client_config: Mapping[str, Any],
               prompts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the design's `forward` on each input; stop at the first exception and report it with the usage.

    MemoryError is re-raised so the sandbox retires this worker; other exceptions become data, so the
    calls spent before them are still counted.
    """
    filename = namespace.get("__file__") or _filename_of(namespace)
    client = client_from_config(client_config)
    apply_prompts(namespace, prompts)
    answers: list[Any] = []
    error = None
    with use_client(client):
        forward = namespace.get("forward")
        if not callable(forward):
            error = {"error_type": "NameError", "error_message": "the design defines no function `forward(task)`",
                     "lineno": None, "source_line": None, "traceback": ""}
        else:
            for item in inputs:
                try:
                    answer = forward(item)
                except MemoryError:
                    raise
                except Exception as exc:
                    error = _design_error(exc, filename)
                    error["infrastructure"] = _is_infrastructure(exc)
                    error["input"] = str(item)[:500]
                    break
                answers.append(answer if isinstance(answer, str | int | float | bool | None) else str(answer))
    return {"answers": answers, "error": error, "usage": client.usage.as_dict()}


def _is_infrastructure(exc: BaseException) -> bool:
    """A model that cannot be reached is not the design's fault; a reply it cannot parse may be."""
    from backprose.errors import LLMError, LLMFormatError

    return isinstance(exc, LLMError) and not isinstance(exc, LLMFormatError)


def _filename_of(namespace: dict[str, Any]) -> str:
    fn = namespace.get(ENTRY)
    return fn.__code__.co_filename if fn is not None else ""
