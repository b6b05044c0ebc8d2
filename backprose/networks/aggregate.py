"""Aggregation functions: how a layer's team turns its agents' replies into the layer's one output.

Each is a traced op (or an LLM call), so the merge is part of the graph and feedback flows back through
it to every reply. Built in: `concatenate`, `vote`, `synthesis` (an LLM merges), `critic` (an LLM picks
the best reply), `chain` (agents run in turn, each improving the previous draft). A user-defined one is
`aggregation(name, fn)` with `fn(texts) -> text`, registered per network: `AgentNetwork(...,
aggregations=[...])`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from backprose.agent import call_llm
from backprose.networks.prompts import render
from backprose.nodes.apply import apply
from backprose.nodes.message import Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter


@dataclass(frozen=True)
class LayerContext:
    """What an aggregation may use: the layer's name and subtask, its aggregator prompt, the model."""

    name: str
    subtask: str
    agent_ids: tuple[str, ...]
    aggregator: Parameter
    llm: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


Combine = Callable[[list[Node], LayerContext], Node]


@dataclass(frozen=True)
class Aggregation:
    """A named merge. `sequential` agents see the previous agent's reply (see `chain`)."""

    name: str
    doc: str
    combine: Combine
    sequential: bool = False


def _op(name: str, doc: str, fn: Callable[..., Any], nodes: list[Node] | tuple[Any, ...]) -> Node:
    return apply(Op(name, doc), fn, tuple(nodes))


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def answer_key(text: str) -> str:
    """What `vote` counts: the last number in the text if there is one, else the normalized text."""
    numbers = _NUMBER.findall(str(text))
    if numbers:
        value = numbers[-1].replace(",", "")
        return value[:-2] if value.endswith(".0") else value
    return " ".join(str(text).lower().split())


def majority(texts: list[str]) -> str:
    """The first text whose answer is the most common one; ties go to the earliest."""
    counts = Counter(answer_key(t) for t in texts)
    best = max(counts.values())
    return next(t for t in texts if counts[answer_key(t)] == best)


def label_replies(texts: list[str], ids: tuple[str, ...]) -> str:
    return "\n\n".join(f"[{aid}] {text}" for aid, text in zip(ids, texts, strict=False))


def _concatenate(replies: list[Node], ctx: LayerContext) -> Node:
    return _op("concatenate", "[concatenate] Join every agent's reply, each under its agent id.",
               lambda *texts: label_replies([str(t) for t in texts], ctx.agent_ids), replies)


def _vote(replies: list[Node], ctx: LayerContext) -> Node:
    return _op("vote", "[vote] The reply whose final answer (its last number, else its text) most agents "
                       "gave; ties go to the earliest agent.", lambda *texts: majority([str(t) for t in texts]),
               replies)


def _team(replies: list[Node], ctx: LayerContext, template: str) -> Node:
    def prompt(*texts: Any) -> str:
        shown = [{"id": aid, "text": str(t)} for aid, t in zip(ctx.agent_ids, texts, strict=False)]
        return render(template, subtask=ctx.subtask, replies=shown)

    return _op(f"{template.removesuffix('.j2')}_prompt", f"[{template}] Show the team's replies to the "
               "aggregator of the layer.", prompt, replies)


def _synthesis(replies: list[Node], ctx: LayerContext) -> Node:
    return call_llm(_team(replies, ctx, "synthesis.j2"), system=ctx.aggregator, llm=ctx.llm, **ctx.options)


_BEST = re.compile(r"BEST\s*[:=]?\s*\[?(\d+)", re.IGNORECASE)


def pick(verdict: str, texts: list[str]) -> str:
    """The reply the critic named ('BEST: k', 1-based); the first reply when the verdict names none."""
    match = _BEST.search(str(verdict))
    if match:
        k = int(match.group(1))
    else:
        number = re.search(r"\d+", str(verdict))
        k = int(number.group(0)) if number else 1
    return texts[k - 1] if 1 <= k <= len(texts) else texts[0]


def _critic(replies: list[Node], ctx: LayerContext) -> Node:
    verdict = call_llm(_team(replies, ctx, "critic.j2"), system=ctx.aggregator, llm=ctx.llm, **ctx.options)
    return _op("pick_best", "[pick_best] The reply the critic chose ('BEST: k'); the first if it chose none.",
               lambda v, *texts: pick(str(v), [str(t) for t in texts]), [verdict, *replies])


def _chain(replies: list[Node], ctx: LayerContext) -> Node:
    return replies[-1]


def chain_input(layer_input: Node, draft: Node) -> Node:
    """The prompt of the next agent in a chain: the layer's input plus the previous agent's draft."""
    return _op("chain_input", "[chain_input] The layer's input followed by the previous agent's draft.",
               lambda x, d: render("chain_input.j2", layer_input=str(x), draft=str(d)), [layer_input, draft])


def aggregation(name: str, fn: Callable[[list[str]], Any], doc: str = "") -> Aggregation:
    """A user-defined aggregation from `fn(texts) -> text`, traced as one op named `name`."""
    text = doc or (fn.__doc__ or "").strip() or f"user aggregation {name}"

    def combine(replies: list[Node], ctx: LayerContext) -> Node:
        return _op(name, f"[{name}] {text}", lambda *texts: str(fn([str(t) for t in texts])), replies)

    return Aggregation(name, text, combine)


BUILTIN: Mapping[str, Aggregation] = MappingProxyType({
    "concatenate": Aggregation("concatenate", "join all replies, labelled by agent", _concatenate),
    "vote": Aggregation("vote", "majority answer (last number, else text) among the replies", _vote),
    "synthesis": Aggregation("synthesis", "the aggregator model merges the replies into one", _synthesis),
    "critic": Aggregation("critic", "the aggregator model picks the best reply", _critic),
    "chain": Aggregation("chain", "agents work in turn, each improving the previous draft", _chain,
                         sequential=True),
})
