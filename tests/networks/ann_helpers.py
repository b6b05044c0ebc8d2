"""Test helpers: a scripted model that plays every part of an agent network: planner, agents, critics and optimizers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from backprose.llm import Scripted
from tests.reflect_requests import is_reflect, reply_key

SPEC: dict[str, Any] = {
    "task": "Solve arithmetic word problems; answer with the number only.",
    "layers": [
        {"name": "solve", "subtask": "work out the arithmetic", "aggregation": "vote",
         "agents": [{"id": "a", "role": "You are a calculator.", "prompt": "Compute."},
                    {"id": "b", "role": "You are a checker.", "prompt": "Compute carefully."}]},
        {"name": "answer", "subtask": "state the final number", "aggregation": "chain",
         "agents": [{"id": "writer", "role": "You write final answers.", "prompt": "Give the number."}]},
    ],
}


def role(messages: list[dict[str, str]]) -> str:
    """Which part a prompt is for, from its system message."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    if system.startswith("You design teams"):
        return "plan"
    if system.startswith("You review a multi-agent network"):
        return "global"
    if system.startswith("You review one layer"):
        return "local"
    if system.startswith("You improve one variable"):
        return "update"
    if is_reflect(messages):
        return "reflect"
    return "agent"


def player(agent: Callable[[list[dict[str, str]]], str], *, plan: Any = None, critique: str = "split is fine",
           edits: list[Any] | None = None, update: Callable[[str], str] | None = None,
           local: Callable[[str], dict[str, Any]] | None = None) -> Scripted:
    """A Scripted client: `agent` answers agent prompts; the rest reply with the given JSON."""
    def reply(messages: list[dict[str, str]]) -> str:
        kind = role(messages)
        user = messages[-1]["content"]
        if kind == "plan":
            return json.dumps(plan if plan is not None else SPEC)
        if kind == "global":
            return json.dumps({"critique": critique, "edits": edits or []})
        if kind == "local":
            if local is not None:
                return json.dumps(local(user))
            layer = user.split('"', 2)[1]
            agents = {a: f"{layer}/{a}: show the working" for a in ("a", "b", "writer")}
            return json.dumps({"layer": f"{layer} must be exact", "agents": agents})
        if kind == "update":
            return json.dumps({"reasoning": "follow the feedback", "value": update(user) if update else "NEW"})
        if kind == "reflect":  # Reflect's reply is keyed by the parameter's name
            return json.dumps({"diagnosis": "it missed", reply_key(user): update(user) if update else "NEW"})
        return agent(messages)

    return Scripted(reply)
