"""The backward phase's textual gradients, computed over the recorded graph of judged runs.

A *global* gradient judges the whole network on a minibatch: the decomposition, the order of the layers,
the teams and aggregation choices. It is one model call that returns a critique (added to the structure
parameter's feedback) and JSON-patch edits of the spec. A *local* gradient per layer (one call each) reads
that layer's input, every agent's reply and the merged output across the runs, plus the global critique,
and writes advice for the layer (to its aggregator prompt) and for each agent (to its role and
instructions). All of it lands in `.feedback` as ordinary `Feedback` records, so any optimizer can use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backprose.errors import LLMFormatError
from backprose.networks.prompts import cut, render
from backprose.networks.replies import ask_json
from backprose.nodes.message import Message
from backprose.nodes.node import Node
from backprose.optimizers.problem import CUT_NOTE, input_text
from backprose.trace.backward import Feedback
from backprose.trace.graph import topological_order

if TYPE_CHECKING:
    from backprose.networks.network import AgentNetwork

logger = logging.getLogger(__name__)
GLOBAL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"critique": {"type": "string"},
                                                                  "edits": {"type": "array"}},
                                 "required": ["critique"]}
LOCAL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"layer": {"type": "string"},
                                                                 "agents": {"type": "object"}},
                                "required": ["layer"]}
_SCORE = re.compile(r"\bscore\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass
class LayerTrace:
    """One layer in one run: its input prompt, each agent's reply and the merged output."""

    input: str = ""
    replies: dict[str, str] = field(default_factory=dict)
    output: str = ""
    unfinished: set[str] = field(default_factory=set)  # agents whose reply stopped at its token limit


@dataclass
class Run:
    """One judged output and what each layer did to produce it (read back from the graph)."""

    output: Node
    feedback: str
    score: float | None
    layers: dict[str, LayerTrace]
    input: str = ""  # what the run was asked, when backward was told (the trainer tells it)


def score_of(text: str) -> float | None:
    match = _SCORE.search(text)
    return float(match.group(1)) if match else None


def read_run(network: AgentNetwork, output: Node, feedback: str) -> Run:
    """Recover each layer's input, agent replies and output from the graph behind `output`."""
    owners = {}
    for layer in network.layers:
        for aid in layer["agents"]:
            owners[id(network.agent(layer["name"], aid).system)] = (layer["name"], aid)
    layers: dict[str, LayerTrace] = {}
    for node in topological_order(output):
        if not isinstance(node, Message):
            continue
        name = node.op.name
        if name.startswith("input:"):
            layers.setdefault(name[6:], LayerTrace()).input = str(node._value)
        elif name.startswith("layer:"):
            layers.setdefault(name[6:], LayerTrace()).output = str(node._value)
        elif name == "call_llm" and node.parents and id(node.parents[0]) in owners:
            lname, aid = owners[id(node.parents[0])]
            trace = layers.setdefault(lname, LayerTrace())
            trace.replies[aid] = str(node._value)
            if node.truncated:
                trace.unfinished.add(aid)
    return Run(output, feedback, score_of(feedback), layers)


def worst_first(runs: Sequence[Run]) -> list[Run]:
    return sorted(runs, key=lambda r: float("-inf") if r.score is None else r.score)


@dataclass
class Gradients:
    """What one backward phase produced: the critique, the proposed edits and the per-layer advice."""

    critique: str = ""
    edits: list[Any] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)
    agents: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class NetworkGradients:
    """Global and local textual gradients for an `AgentNetwork`. `runs` caps the runs shown per prompt."""

    def __init__(self, llm: Any = None, *, max_tokens: int = 384, runs: int = 3, chars: int = 360,
                 local: bool = True, global_: bool = True, temperature: float = 0.0) -> None:
        self._llm = llm
        self.max_tokens = max_tokens
        self.runs = runs
        self.chars = chars
        self.local = local
        self.global_ = global_
        self.temperature = temperature
        self.log: list[dict[str, Any]] = []

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from backprose.llm import default

            self._llm = default()
        return self._llm

    def _ask(self, kind: str, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        messages = [{"role": "system", "content": render(system)}, {"role": "user", "content": user}]
        try:
            reply = ask_json(self.llm, messages, schema, name=f"{kind}_gradient", max_tokens=self.max_tokens,
                             temperature=self.temperature)
        except LLMFormatError as exc:
            logger.warning("%s gradient skipped: the reply stayed unusable (%s)", kind, cut(exc, 200))
            self.log.append({"kind": kind, "messages": messages, "error": str(exc)})
            return None
        self.log.append({"kind": kind, "messages": messages, "reply": reply})
        return reply if isinstance(reply, dict) else None

    # --- the two gradients --------------------------------------------------------------------------------
    def global_gradient(self, network: AgentNetwork, runs: Sequence[Run]) -> tuple[str, list[Any]]:
        spec = network.spec()
        layers = [{**layer, "agents": [{"id": a["id"], "role": cut(a["role"], 160), "prompt": cut(a["prompt"], 200)}
                                       for a in layer["agents"]]} for layer in spec["layers"]]
        shown = [{"feedback": cut(r.feedback, self.chars), "input": cut(r.input, self.chars) if r.input else "",
                  "layers": [(name, cut(t.output, self.chars)) for name, t in r.layers.items()]}
                 for r in worst_first(runs)[: self.runs]]
        user = render("global_gradient.j2", task=spec["task"], layers=layers, runs=shown,
                      aggregations=sorted(network.aggregations))
        reply = self._ask("global", "global_gradient_system.j2", user, GLOBAL_SCHEMA)
        if reply is None:
            return "", []
        edits = reply.get("edits") or []
        return str(reply.get("critique", "")).strip(), edits if isinstance(edits, list) else []

    def local_gradient(self, network: AgentNetwork, layer: dict[str, Any], index: int, runs: Sequence[Run],
                       critique: str) -> tuple[str, dict[str, str]]:
        name = layer["name"]
        agents = [{"id": aid, "role": cut(network.agent(name, aid).system._value, 200),
                   "prompt": cut(network.agent(name, aid).instructions._value, 300)} for aid in layer["agents"]]
        shown = []
        for r in worst_first(runs)[: self.runs]:
            t = r.layers.get(name, LayerTrace())
            shown.append({"feedback": cut(r.feedback, self.chars), "input": cut(t.input, self.chars),
                          "replies": [(aid, cut(text, self.chars) + (f" {CUT_NOTE}" if aid in t.unfinished else ""))
                                      for aid, text in t.replies.items()],
                          "output": cut(t.output, self.chars)})
        user = render("local_gradient.j2", name=name, index=index, total=len(network.layers),
                      subtask=layer["subtask"], aggregation=layer["aggregation"], agents=agents,
                      critique=cut(critique, 600), runs=shown)
        reply = self._ask("local", "local_gradient_system.j2", user, LOCAL_SCHEMA)
        if reply is None:
            return "", {}
        advice = reply.get("agents") if isinstance(reply.get("agents"), dict) else {}
        return str(reply.get("layer", "")).strip(), {str(k): str(v).strip() for k, v in advice.items()
                                                      if str(v).strip()}

    # --- backward ---------------------------------------------------------------------------------------------
    def backward(self, network: AgentNetwork, outputs: Sequence[Node], texts: Sequence[str], *,
                 layers: Collection[str] | None = None, inputs: Sequence[Any] | None = None) -> Gradients:
        """Compute both gradients for judged `outputs` and add them to the parameters' feedback; local
        gradients only for the named `layers` when given (a step that rewrites only some prompts).
        `inputs` (one per output, None where unknown) are what each run was asked, shown to the global
        gradient, which otherwise sees only what the layers made of it."""
        runs = [read_run(network, out, text) for out, text in zip(outputs, texts, strict=True)]
        for run, asked in zip(runs, inputs or (), strict=False):
            run.input = "" if asked is None else input_text(asked)
        if not runs:
            return Gradients()
        worst = worst_first(runs)[0]
        scores = [r.score for r in runs if r.score is not None]

        def record(text: str, kind: str) -> Feedback:
            return Feedback(text=text, output=worst.output, user_feedback=worst.feedback,
                            extra={"score": min(scores) if scores else None, "gradient": kind})

        result = Gradients()
        if self.global_:
            result.critique, result.edits = self.global_gradient(network, runs)
            if result.critique:
                network.structure.feedback.append(record(result.critique, "global"))
        if self.local:
            for index, layer in enumerate(network.layers, 1):
                name = layer["name"]
                if layers is not None and name not in layers:
                    continue
                text, advice = self.local_gradient(network, layer, index, runs, result.critique)
                result.layers[name], result.agents[name] = text, advice
                if text:
                    network.aggregator(name).feedback.append(record(f"Layer {name}: {text}", "local"))
                for aid in layer["agents"]:
                    words = [w for w in (text and f"Layer {name}: {text}", advice.get(aid, "")) if w]
                    if not words:
                        continue
                    agent = network.agent(name, aid)
                    for p in (agent.system, agent.instructions):
                        p.feedback.append(record("\n".join(words), "local"))
        return result
