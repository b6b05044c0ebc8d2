"""The network spec: one JSON document describing the layers, their teams and how each team's work is merged.

    {"task": "...", "layers": [{"name": "solve", "subtask": "...", "aggregation": "vote",
                                "aggregator": "prompt of the synthesizer or critic",
                                "agents": [{"id": "a", "role": "system prompt", "prompt": "instructions",
                                            "demos": [{"input": "...", "reply": "..."}]}]}]}

Edits from the backward phase are JSON patches on this document; `check_spec` lists every defect, so an
edit is applied to a copy, checked, and only then adopted. The network keeps the structure (names,
subtasks, aggregations, agent ids) in one JSON parameter and each text (role, prompt, aggregator) in its own
text parameter; an agent's optional `demos` (worked examples, see `bp.Agent`) are one more parameter.
`split` and `join` convert between the two views.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from backprose.agent import check_demos
from backprose.errors import InvalidSpec, InvalidUpdate

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
MAX_LAYERS = 6
MAX_AGENTS = 5
DEFAULT_ROLE = "You are a careful, concise assistant."
DEFAULT_AGGREGATOR = "You combine the work of a team into one answer."


def check_spec(doc: Any, aggregations: Iterable[str], *, max_layers: int = MAX_LAYERS,
               max_agents: int = MAX_AGENTS, texts: bool = True) -> list[str]:
    """Every defect of `doc` (empty when valid). `texts=False` checks the structure view (agent ids only)."""
    known = set(aggregations)
    if not isinstance(doc, dict):
        return [f"the spec must be an object, got {type(doc).__name__}"]
    problems = []
    if not isinstance(doc.get("task", ""), str):
        problems.append("'task' must be text")
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        return problems + ["'layers' must be a non-empty list"]
    if len(layers) > max_layers:
        problems.append(f"{len(layers)} layers is more than the limit of {max_layers}")
    names: set[str] = set()
    for i, layer in enumerate(layers):
        where = f"layer {i}"
        if not isinstance(layer, dict):
            problems.append(f"{where} must be an object")
            continue
        name = layer.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}: 'name' must be an identifier (letters, digits, _ or -), got {name!r}")
        elif name in names:
            problems.append(f"{where}: duplicate layer name {name!r}")
        else:
            names.add(name)
            where = f"layer {name!r}"
        if not isinstance(layer.get("subtask"), str) or not layer["subtask"].strip():
            problems.append(f"{where}: 'subtask' must be non-empty text")
        if layer.get("aggregation") not in known:
            problems.append(f"{where}: aggregation {layer.get('aggregation')!r} is not one of {sorted(known)}")
        if texts and not isinstance(layer.get("aggregator", ""), str):
            problems.append(f"{where}: 'aggregator' must be text")
        problems += _check_agents(layer.get("agents"), where, max_agents, texts)
        extra = set(layer) - {"name", "subtask", "aggregation", "aggregator", "agents"}
        if extra:
            problems.append(f"{where}: unknown fields {sorted(extra)}")
    return problems


def _check_agents(agents: Any, where: str, max_agents: int, texts: bool) -> list[str]:
    if not isinstance(agents, list) or not agents:
        return [f"{where}: 'agents' must be a non-empty list"]
    problems = []
    if len(agents) > max_agents:
        problems.append(f"{where}: {len(agents)} agents is more than the limit of {max_agents}")
    ids: set[str] = set()
    for j, agent in enumerate(agents):
        if texts:
            if not isinstance(agent, dict):
                problems.append(f"{where}, agent {j} must be an object with 'id', 'role' and 'prompt'")
                continue
            aid = agent.get("id")
            for key in ("role", "prompt"):
                if not isinstance(agent.get(key, ""), str):
                    problems.append(f"{where}, agent {aid!r}: {key!r} must be text")
            try:
                check_demos(agent.get("demos", []))
            except InvalidUpdate as exc:
                problems.append(f"{where}, agent {aid!r}: {exc}")
            extra = set(agent) - {"id", "role", "prompt", "demos"}
            if extra:
                problems.append(f"{where}, agent {aid!r}: unknown fields {sorted(extra)}")
        else:
            aid = agent
        if not isinstance(aid, str) or not NAME.match(aid):
            problems.append(f"{where}, agent {j}: 'id' must be an identifier, got {aid!r}")
        elif aid in ids:
            problems.append(f"{where}: duplicate agent id {aid!r}")
        else:
            ids.add(aid)
    return problems


def validate_spec(doc: Any, aggregations: Iterable[str], **limits: Any) -> dict[str, Any]:
    """A normalized deep copy of `doc`, or InvalidSpec listing every defect."""
    problems = check_spec(doc, aggregations, **limits)
    if problems:
        raise InvalidSpec(problems)
    out = copy.deepcopy(doc)
    out.setdefault("task", "")
    for layer in out["layers"]:
        layer.setdefault("aggregator", DEFAULT_AGGREGATOR)
        for agent in layer["agents"]:
            agent.setdefault("role", DEFAULT_ROLE)
            agent.setdefault("prompt", "")
    return out


def split(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(structure, texts): the structure keeps agent ids only; texts maps parameter names to their text (and
    each agent's worked examples, a list)."""
    texts: dict[str, Any] = {}
    layers = []
    for layer in doc["layers"]:
        name = layer["name"]
        texts[f"{name}.aggregator"] = layer["aggregator"]
        for agent in layer["agents"]:
            texts[f"{name}.{agent['id']}.system"] = agent["role"]
            texts[f"{name}.{agent['id']}.instructions"] = agent["prompt"]
            texts[f"{name}.{agent['id']}.demos"] = list(agent.get("demos", []))
        layers.append({"name": name, "subtask": layer["subtask"], "aggregation": layer["aggregation"],
                       "agents": [a["id"] for a in layer["agents"]]})
    return {"task": doc.get("task", ""), "layers": layers}, texts


def join(structure: dict[str, Any], texts: dict[str, Any]) -> dict[str, Any]:
    """The full document from the structure and the texts (`split` inverted; an agent without worked
    examples has no 'demos' field)."""
    layers = []
    for layer in structure["layers"]:
        name = layer["name"]
        agents = [{"id": a, "role": texts.get(f"{name}.{a}.system", DEFAULT_ROLE),
                   "prompt": texts.get(f"{name}.{a}.instructions", "")} for a in layer["agents"]]
        for agent in agents:
            if texts.get(f"{name}.{agent['id']}.demos"):
                agent["demos"] = list(texts[f"{name}.{agent['id']}.demos"])
        layers.append({"name": name, "subtask": layer["subtask"], "aggregation": layer["aggregation"],
                       "aggregator": texts.get(f"{name}.aggregator", DEFAULT_AGGREGATOR), "agents": agents})
    return {"task": structure.get("task", ""), "layers": layers}
