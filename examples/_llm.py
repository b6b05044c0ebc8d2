"""How every example picks its model: a committed replay (fast, offline), a recording run, or a live one.

    --replay PATH     answer from a JSONL file that `bp.llm.Recorder` wrote (also: BACKPROSE_REPLAY=PATH)
    --record PATH     run live and write every answer to PATH (what produced examples/replays/)
    (neither)         the embedded local model, or a hosted one when BACKPROSE_BASE_URL / BACKPROSE_MODEL /
                      OPENAI_API_KEY are set (any OpenAI-compatible server)

A replayed request that was never recorded raises `CacheMiss`, so an example that drifts from its
recording fails loudly instead of quietly calling a model.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import backprose as bp

HOSTED_ENV = ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY")


def add_llm_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The two options every example shares."""
    parser.add_argument("--replay", default=os.environ.get("BACKPROSE_REPLAY"),
                        help="answer from a recorded JSONL file instead of a model (fast mode)")
    parser.add_argument("--record", default=None, help="run live and record every answer to this JSONL file")
    return parser


def live_client(options: Mapping[str, Any] | None = None) -> Any:
    """A hosted OpenAI-compatible model if the environment names one, else the embedded local model."""
    if any(os.environ.get(name) for name in HOSTED_ENV):
        return bp.llm.OpenAI(model=os.environ.get("BACKPROSE_MODEL"), base_url=os.environ.get("BACKPROSE_BASE_URL"),
                             api_key=os.environ.get("OPENAI_API_KEY"), options=dict(options or {}))
    return bp.llm.Local(options=dict(options or {}))


def client(args: argparse.Namespace, options: Mapping[str, Any] | None = None) -> Any:
    """The model for this run; `options` are the client's defaults (they are part of each recorded key)."""
    if args.replay:
        replay = bp.llm.Replay(args.replay, options=dict(options or {}))
        replay.response_format_style = recorded_style(args.replay)
        return replay
    live = live_client(options)
    if args.record:
        Path(args.record).unlink(missing_ok=True)  # a recording is one run, not an append of several
        return bp.llm.Recorder(live, args.record)
    return live


def recorded_style(path: str | os.PathLike[str]) -> str | None:
    """The structured-output style of the recorded client, read from its requests: it shapes the
    `response_format` option, which is part of each key, so the replay must ask in the same style."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            fmt = json.loads(line).get("options", {}).get("response_format") if line.strip() else None
            if fmt:
                return "json_schema" if fmt["type"] == "json_schema" else (
                    "json_object_schema" if "schema" in fmt else "json_object")
    return None


def export_cache(directory: str | os.PathLike[str], path: str | os.PathLike[str]) -> int:
    """Copy a response cache (SQLite) to a small JSONL file that can be committed; returns the row count."""
    cache = bp.llm.ResponseCache(directory)
    conn = cache._connect(create=False)
    rows = [] if conn is None else conn.execute("SELECT key, request, response FROM responses ORDER BY created")
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for key, request, response in rows:
            fh.write(json.dumps({"key": key, "request": json.loads(request), "response": json.loads(response)},
                                ensure_ascii=False) + "\n")
            count += 1
    return count


def import_cache(path: str | os.PathLike[str], directory: str | os.PathLike[str], model: str | None = None) -> int:
    """Load an exported JSONL into a fresh response cache directory (the reverse of `export_cache`).

    `model` re-keys every answer for a client that names its model differently at replay time (a client
    that asks a server for its model keys requests by the server's address)."""
    from backprose.llm.cache import request_key

    cache = bp.llm.ResponseCache(directory)
    count = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                req = row["request"]
                key = row["key"] if model is None else request_key(model, req["messages"], req["options"],
                                                                   req.get("sample_index"))
                cache.put(key, req, row["response"])
                count += 1
    cache.close()
    return count
