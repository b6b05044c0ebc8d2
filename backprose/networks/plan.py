"""Planning: the model decomposes a task into ordered subtasks (one layer each), or adapts a trained
network to a new task of the same kind, reusing learned teams and building layers for unseen subtasks.

Small models rarely write a perfect spec, so replies are normalized (missing ids, names and aggregations
get sensible defaults) and checked; an invalid design gets one retry that lists its problems, then the
`fallback` spec if one was given, else `InvalidSpec`.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from backprose.errors import InvalidSpec, LLMFormatError
from backprose.networks.aggregate import BUILTIN
from backprose.networks.prompts import cut, render
from backprose.networks.replies import ask_json
from backprose.networks.spec import DEFAULT_ROLE, check_spec, validate_spec

logger = logging.getLogger(__name__)
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"layers": {"type": "array"}}, "required": ["layers"]}


def _client(llm: Any) -> Any:
    if llm is not None:
        return llm
    from backprose.llm import default

    return default()


def _ident(text: Any, fallback: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", str(text or ""))
    name = "_".join(words[:3]).lower()[:39]
    return name if name and name[0].isalpha() else fallback


def normalize(raw: Any, aggregations: Iterable[str], team_size: int) -> Any:
    """Fill the gaps a small model leaves in a design: ids, names, aggregation, texts for agents."""
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list):
        return raw
    known = list(aggregations)
    doc = copy.deepcopy(raw)
    taken: set[str] = set()
    for i, layer in enumerate(doc["layers"]):
        if not isinstance(layer, dict):
            continue
        name = _ident(layer.get("name") or layer.get("subtask"), f"layer{i + 1}")
        layer["name"] = name if name not in taken else f"{name}_{i + 1}"
        taken.add(layer["name"])
        if layer.get("aggregation") not in known:
            layer["aggregation"] = "vote" if "vote" in known else known[0]
        agents = layer.get("agents")
        if not isinstance(agents, list) or not agents:
            agents = [{"role": DEFAULT_ROLE}]
        fixed, ids = [], set()
        for j, agent in enumerate(agents[:team_size]):
            agent = {"role": agent} if isinstance(agent, str) else dict(agent) if isinstance(agent, dict) else {}
            aid = _ident(agent.get("id"), f"agent{j + 1}")
            aid = aid if aid not in ids else f"agent{j + 1}"
            ids.add(aid)
            fixed.append({"id": aid, "role": str(agent.get("role") or DEFAULT_ROLE),
                          "prompt": str(agent.get("prompt") or "")})
            if agent.get("demos"):  # a reused layer's worked examples (checked with the rest of the spec)
                fixed[-1]["demos"] = agent["demos"]
        layer["agents"] = fixed
        for key in list(layer):
            if key not in ("name", "subtask", "aggregation", "aggregator", "agents"):
                layer.pop(key)
    return doc


def decompose(task: str, *, llm: Any = None, examples: Iterable[Any] = (), layers: int = 3, team_size: int = 2,
              aggregations: Iterable[str] | None = None, fallback: Mapping[str, Any] | None = None,
              max_tokens: int = 768) -> dict[str, Any]:
    """A validated spec for `task`, designed by the model (see the module docstring for failures)."""
    names = list(aggregations or BUILTIN)
    docs = [(n, BUILTIN[n].doc if n in BUILTIN else "user-defined") for n in names]
    shown = [cut(e, 300) for e in list(examples)[:3]]
    problems: list[str] = []
    for _ in range(2):
        user = render("decompose_user.j2", task=task, examples=shown, layers=layers, team_size=team_size,
                      aggregations=docs, problems=problems)
        messages = [{"role": "system", "content": render("decompose_system.j2")}, {"role": "user", "content": user}]
        try:
            raw = ask_json(_client(llm), messages, SCHEMA, name="network_spec", max_tokens=max_tokens,
                           temperature=0)
        except LLMFormatError as exc:
            problems = [f"the reply was not the requested JSON ({cut(exc, 200)})"]
            logger.info("network design: %s", problems[0])
            continue
        doc = normalize(raw, names, team_size)
        if isinstance(doc, dict):
            doc = {**doc, "task": task, "layers": doc["layers"][:layers]}
        problems = check_spec(doc, names, max_layers=layers, max_agents=team_size)
        if not problems:
            return validate_spec(doc, names)
        logger.info("network design refused: %s", cut("; ".join(problems), 300))
    if fallback is not None:
        logger.warning("network design: the model's designs were unusable (%s); using the fallback spec",
                       cut("; ".join(problems), 300))
        return validate_spec({**dict(fallback), "task": fallback.get("task") or task}, names)
    raise InvalidSpec(problems, "pass fallback= (a spec to use when the model's design is invalid) or a "
                                "stronger model")


def adapt(learned: Mapping[str, Any], task: str, *, llm: Any = None, layers: int = 3, team_size: int = 2,
          aggregations: Iterable[str] | None = None, max_tokens: int = 768) -> dict[str, Any]:
    """A spec for a new `task` that reuses the trained layers of `learned` (a full spec) where they fit.

    A reused layer keeps its trained team, prompts and aggregation; new layers come from the model's
    design. If the model's reply is unusable the learned spec is returned as it is, with the new task.
    """
    names = list(aggregations or BUILTIN)
    by_name = {layer["name"]: layer for layer in learned["layers"]}
    user = render("adapt_user.j2", learned_task=learned.get("task", ""), learned=learned["layers"], task=task,
                  layers=layers, aggregations=names)
    try:
        raw = ask_json(_client(llm), [{"role": "system", "content": render("decompose_system.j2")},
                                      {"role": "user", "content": user}], SCHEMA, name="network_spec",
                       max_tokens=max_tokens, temperature=0)
    except LLMFormatError as exc:
        logger.info("network adaptation: the reply was not the requested JSON (%s)", cut(exc, 200))
        raw = None
    out: list[Any] = []
    for item in (raw or {}).get("layers", []) if isinstance(raw, dict) else []:
        if isinstance(item, dict) and item.get("reuse") in by_name:
            out.append(copy.deepcopy(by_name[item["reuse"]]))
        elif isinstance(item, dict) and "reuse" not in item:
            out.append(item)
    size = max([team_size, *(len(layer["agents"]) for layer in learned["layers"])])
    doc = normalize({"task": task, "layers": out[:layers]}, names, size)
    problems = check_spec(doc, names, max_layers=layers, max_agents=size)
    if problems:
        logger.warning("network adaptation: the model's design was unusable (%s); keeping the learned spec",
                       cut("; ".join(problems), 300))
        return validate_spec({**copy.deepcopy(dict(learned)), "task": task}, names)
    return validate_spec(doc, names)
