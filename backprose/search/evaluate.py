"""Isolated evaluation: a design's `forward` runs in sandbox workers under time and memory limits.

The inputs are split into one chunk per worker and run in parallel; every failure (syntax error, exception,
time-out, memory limit, crash) comes back as text the meta agent can debug from, never as an exception in
the searcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from backprose.isolation import IsolatedResult, Limits, Sandbox
from backprose.search.worker import ENTRY, SUFFIX

USAGE_KEYS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens")


@dataclass
class Evaluation:
    """Answers in input order, or `error` (text for the meta agent) when the design failed."""

    answers: list[Any]
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def _chunks(items: Sequence[Any], n: int) -> list[list[Any]]:
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def _isolation_error(res: IsolatedResult, limits: Limits) -> tuple[str, dict[str, Any]]:
    if res.timed_out:
        cause = f"the design ran past the time limit of {limits.wall_time:g} s (an endless loop or far too many calls?)"
    elif res.memory_exceeded:
        cause = f"the design ran out of memory (limit {limits.memory_mb} MiB)"
    else:
        cause = res.describe()
    text = cause
    if res.lineno is not None and (res.timed_out or res.memory_exceeded):
        text += f"; it was at line {res.lineno}: {res.source_line}"
    if res.traceback:
        text += "\n" + _design_frames(res.traceback)[-3000:]
    details = {"error_type": res.error_type, "lineno": res.lineno, "source_line": res.source_line,
               "timed_out": res.timed_out, "memory_exceeded": res.memory_exceeded, "exit_code": res.exit_code}
    return text, details


def _design_frames(traceback: str) -> str:
    """Drop the frames of the evaluation harness, so the meta agent reads only its own code's lines."""
    kept, skipping = [], False
    for line in traceback.splitlines():
        if line.startswith("  File "):
            skipping = "backprose/search/worker.py" in line or ENTRY in line
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def _design_error_text(err: Mapping[str, Any]) -> str:
    where = f" at line {err['lineno']}: {err['source_line']}" if err.get("lineno") else ""
    text = f"{err['error_type']}: {err['error_message']}{where}"
    if err.get("input"):
        text += f"\nwhile running forward({err['input']!r})"
    if err.get("traceback"):
        text += "\n" + err["traceback"]
    return text


class Evaluator:
    """Runs designs isolated with the agents' client built in the worker from `client_config`."""

    def __init__(self, client_config: Mapping[str, Any], *, sandbox: Sandbox | None = None,
                 limits: Limits | None = None, workers: int = 2) -> None:
        self.client_config = dict(client_config)
        self.limits = limits or Limits(wall_time=300.0, memory_mb=1024)
        self._own = sandbox is None
        self.sandbox = sandbox or Sandbox(limits=self.limits, workers=workers)

    def evaluate(self, code: str, inputs: Sequence[Any], *, name: str = "design",
                 prompts: Mapping[str, str] | None = None) -> Evaluation:
        """Run `forward` on every input; answers in order, or the first failure in input order."""
        source = code.rstrip() + "\n" + SUFFIX
        chunks = _chunks(list(inputs), self.sandbox.workers)

        def run(chunk: list[Any]) -> IsolatedResult:
            return self.sandbox.run(source, ENTRY, (chunk, self.client_config, dict(prompts or {})),
                                    filename=f"<design {name}>", limits=self.limits,
                                    preload=("backprose.search.worker",))

        if len(chunks) == 1:
            results = [run(chunks[0])]
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                results = list(pool.map(run, chunks))
        answers: list[Any] = []
        usage = dict.fromkeys(USAGE_KEYS, 0)
        for res in results:
            if not res.ok:
                text, details = _isolation_error(res, self.limits)
                return Evaluation(answers, text, details, usage)
            payload = res.value
            for key in USAGE_KEYS:
                usage[key] += int(payload["usage"].get(key) or 0)
            answers.extend(payload["answers"])
            if payload["error"] is not None:
                err = payload["error"]
                if err.get("infrastructure"):
                    from backprose.errors import AgentLLMFailed

                    raise AgentLLMFailed(name, f"{err['error_type']}: {err['error_message']}")
                return Evaluation(answers, _design_error_text(err), dict(err), usage)
        return Evaluation(answers, None, {}, usage)

    def close(self) -> None:
        if self._own:
            self.sandbox.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_config(agent_llm: Any) -> dict[str, Any]:
    """Plain data from which a worker rebuilds the agents' client: a config dict as is, or an OpenAI-
    compatible client's base_url, model, default options and cache directory."""
    from backprose.errors import ClientNotPortable

    if isinstance(agent_llm, Mapping):
        return dict(agent_llm)
    base_url = getattr(agent_llm, "base_url", None)
    if base_url is None:
        raise ClientNotPortable(agent_llm)
    cache = getattr(agent_llm, "cache", None)
    return {"kind": "openai", "base_url": base_url, "model": getattr(agent_llm, "model", None),
            "options": dict(getattr(agent_llm, "default_options", {}) or {}),
            "cache": str(cache.directory) if cache is not None and getattr(cache, "mode", "") != "off" else None,
            "response_format_style": getattr(agent_llm, "response_format_style", None),
            "max_concurrency": 1}
