"""`AgentNetwork`: layers of agent teams, run as one traced graph and trained like any `bp.Module`.

Each layer works on one subtask. Its input is a traced op over the structure parameter, the question and
the previous layer's output; every agent is a `bp.Agent` (trainable role and prompt); the team's replies
are merged by the layer's aggregation; the layer's output feeds the next layer. A run is therefore an
ordinary backprose graph: render it, backward feedback through it, optimize it with any optimizer.

The structure (layers, subtasks, aggregation choices, agent ids) is one JSON parameter; each role, prompt
and aggregator prompt is a text parameter named `<layer>.<agent>.system`, `<layer>.<agent>.instructions`
and `<layer>.aggregator`; an agent's worked examples are `<layer>.<agent>.demos`. Loading a state with a
different structure rebuilds the teams to match, so states from structural edits round-trip through
`state_dict`, `save` and the trainer's checkpoints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from backprose.agent import Agent
from backprose.errors import InvalidSpec, InvalidUpdate, NetworkNotBuilt
from backprose.module import Module, decode
from backprose.networks.aggregate import BUILTIN, Aggregation, LayerContext, chain_input
from backprose.networks.prompts import render
from backprose.networks.spec import DEFAULT_AGGREGATOR, DEFAULT_ROLE, check_spec, join, split, validate_spec
from backprose.nodes.apply import apply
from backprose.nodes.message import Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter, param


class AgentNetwork(Module):
    """A layered multi-agent system. `spec` is the document described in `backprose.networks.spec`.

    `aggregations` adds user-defined merges (see `aggregation`); `options` (e.g. `max_tokens`) go to every
    model call of the network.
    """

    def __init__(self, spec: Mapping[str, Any], *, llm: Any = None,
                 aggregations: Iterable[Aggregation] = (), **options: Any) -> None:
        self.llm = llm
        self.options = options
        self.aggregations: dict[str, Aggregation] = {**BUILTIN, **{a.name: a for a in aggregations}}
        doc = validate_spec(dict(spec), self.aggregations)
        structure, texts = split(doc)
        self.structure = param(structure, name="structure", description=(
            "the network's layers in order: each layer's subtask, aggregation and the ids of its agents"),
            projection=self._check_structure)
        self._agents: dict[str, Agent] = {}
        self._aggregators: dict[str, Parameter] = {}
        self._sync(texts)

    # --- construction --------------------------------------------------------------------------------
    @classmethod
    def build(cls, task: str, *, llm: Any = None, examples: Iterable[Any] = (), layers: int = 3,
              team_size: int = 2, fallback: Mapping[str, Any] | None = None,
              aggregations: Iterable[Aggregation] = (), **options: Any) -> AgentNetwork:
        """Forward phase, step one: the model decomposes `task` into ordered subtasks, one layer each."""
        from backprose.networks.plan import decompose

        extra = list(aggregations)
        names = [*BUILTIN, *(a.name for a in extra)]
        doc = decompose(task, llm=llm, examples=examples, layers=layers, team_size=team_size,
                        aggregations=names, fallback=fallback)
        return cls(doc, llm=llm, aggregations=extra, **options)

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, llm: Any = None, aggregations: Iterable[Aggregation] = (),
                  **options: Any) -> AgentNetwork:
        """A network saved with `save()`: its learned structure and prompts, ready for new inputs."""
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        extra = list(aggregations)
        structure = decode(state["structure"], param({}, name="structure"))
        texts = {name: rec["value"] for name, rec in state.items() if name != "structure"}
        network = cls(join(structure, texts), llm=llm, aggregations=extra, **options)
        network.load_state_dict(state)
        return network

    def _check_structure(self, value: Any) -> Any:
        problems = check_spec(value, self.aggregations, texts=False)
        if problems:
            raise InvalidUpdate("structure: " + "; ".join(problems))
        return value

    def _sync(self, texts: Mapping[str, str] | None = None) -> None:
        """Make sure every agent and aggregator in the structure has its parameters (new ones get defaults)."""
        texts = texts or {}
        for layer in self.structure._value["layers"]:
            name = layer["name"]
            for aid in layer["agents"]:
                key = f"{name}.{aid}"
                if key not in self._agents:
                    self._agents[key] = Agent(texts.get(f"{key}.system", DEFAULT_ROLE),
                                              texts.get(f"{key}.instructions", ""), llm=self.llm, name=key,
                                              demos=texts.get(f"{key}.demos", []), **self.options)
                    self._agents[key].system.description = f"role of agent {aid!r} in layer {name!r}"
                    self._agents[key].instructions.description = (
                        f"instructions of agent {aid!r} for the subtask of layer {name!r}")
                else:
                    for part in ("system", "instructions", "demos"):
                        if f"{key}.{part}" in texts:
                            getattr(self._agents[key], part).value = texts[f"{key}.{part}"]
            if name not in self._aggregators:
                self._aggregators[name] = param(texts.get(f"{name}.aggregator", DEFAULT_AGGREGATOR),
                                                name=f"{name}.aggregator", description=(
                                                    f"system prompt of the synthesizer/critic of layer {name!r}"))
            elif f"{name}.aggregator" in texts:
                self._aggregators[name].value = texts[f"{name}.aggregator"]

    # --- views --------------------------------------------------------------------------------------------
    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.structure._value["layers"])

    def agent(self, layer: str, agent_id: str) -> Agent:
        self._sync()
        return self._agents[f"{layer}.{agent_id}"]

    def aggregator(self, layer: str) -> Parameter:
        self._sync()
        return self._aggregators[layer]

    def spec(self) -> dict[str, Any]:
        """The full document: structure plus the current role, prompt and aggregator texts."""
        return join(self.structure._value, {p.name: p._value for _, p in self.named_parameters()
                                            if p is not self.structure})

    def set_spec(self, doc: Mapping[str, Any]) -> list[tuple[Parameter, Any, Any]]:
        """Adopt a full document (validated first: InvalidSpec leaves the network as it was).

        Returns (parameter, old, new) for every value that changed, so the change can be reverted.
        """
        clean = validate_spec(dict(doc), self.aggregations)
        structure, texts = split(clean)
        changes: list[tuple[Parameter, Any, Any]] = []
        try:
            old_structure = self.structure._value
            if structure != old_structure:
                self.structure.value = structure
                changes.append((self.structure, old_structure, self.structure._value))
            before = {name: p._value for name, p in self.named_parameters()}
            self._sync()
            for name, p in self.named_parameters():
                if name in texts and p._value != texts[name]:
                    p.value = texts[name]
                    changes.append((p, before.get(name, p._value), p._value))
        except InvalidUpdate:  # all or nothing: undo what was written, through the same write
            for p, old, _ in reversed(changes):
                p.assign(old)
            raise
        return changes

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """The structure, then per layer each agent's role, prompt and worked examples and the aggregator
        prompt."""
        self._sync()
        dot = f"{prefix}." if prefix else ""
        yield f"{dot}structure", self.structure
        for layer in self.structure._value["layers"]:
            for aid in layer["agents"]:
                agent = self._agents[f"{layer['name']}.{aid}"]
                yield f"{dot}{agent.system.name}", agent.system
                yield f"{dot}{agent.instructions.name}", agent.instructions
                yield f"{dot}{agent.demos.name}", agent.demos
            agg = self._aggregators[layer["name"]]
            yield f"{dot}{agg.name}", agg

    def prompt_parameters(self) -> list[Parameter]:
        """Every trainable text (roles, prompts, aggregators), without the structure or worked examples."""
        demos = {id(a.demos) for a in self._agents.values()}
        return [p for p in self.parameters() if p is not self.structure and id(p) not in demos]

    def load_state_dict(self, state: dict[str, dict[str, Any]], strict: bool = True) -> None:
        """Adopt the saved structure first (rebuilding teams to match), then every text."""
        old = self.structure._value
        if "structure" in state:
            try:
                self.structure.value = decode(state["structure"], self.structure)
            except InvalidUpdate as exc:
                raise InvalidUpdate(f"state entry 'structure': {exc}") from None
        try:
            super().load_state_dict(state, strict=strict)
        except Exception:
            self.structure.assign(old)
            raise

    # --- the forward pass ---------------------------------------------------------------------------------
    def __call__(self, question: Any) -> Node:
        """Run every layer in order; the last layer's output is the answer."""
        layers = self.structure._value["layers"]
        if not layers:
            raise NetworkNotBuilt()
        self._sync()
        previous: Node | None = None
        for index, layer in enumerate(layers, 1):
            previous = self.run_layer(layer, index, question, previous)
        return previous  # type: ignore[return-value]

    def run_layer(self, layer: Mapping[str, Any], index: int, question: Any, previous: Node | None) -> Node:
        """One layer: its input, the team's replies, their aggregation, marked as the layer's output."""
        name = layer["name"]
        total = len(self.structure._value["layers"])

        def compose(structure: dict[str, Any], q: Any, prev: Any) -> str:
            spec = next(x for x in structure["layers"] if x["name"] == name)
            return render("layer_input.j2", task=structure.get("task", ""), index=index, total=total,
                          subtask=spec["subtask"], question=q, previous=prev if prev is not None else "")

        layer_input = apply(Op(f"input:{name}", f"[input:{name}] The prompt of layer {name!r}: the overall task, "
                               "this layer's subtask (from the structure), the problem and the previous "
                               "layer's result."), compose, (self.structure, question, previous))
        agg = self.aggregations.get(layer["aggregation"])
        if agg is None:
            raise InvalidSpec([f"layer {name!r} uses unknown aggregation {layer['aggregation']!r}"])
        agents = [self._agents[f"{name}.{aid}"] for aid in layer["agents"]]
        replies: list[Node] = []
        for agent in agents:
            prompt = chain_input(layer_input, replies[-1]) if agg.sequential and replies else layer_input
            replies.append(agent(prompt))
        ctx = LayerContext(name, layer["subtask"], tuple(layer["agents"]), self._aggregators[name], self.llm,
                           self.options)
        merged = agg.combine(replies, ctx)
        return apply(Op(f"layer:{name}", f"[layer:{name}] Output of layer {name!r} ({layer['subtask']}), "
                        f"merged by {agg.name}: {agg.doc}."), lambda x: x, (merged,))
