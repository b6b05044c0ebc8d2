"""`NetworkOptimizer`: the backward phase of an agent network as an ordinary `Optimizer`.

`propose` reads the judged outputs that backward left on the structure parameter, computes the global and
local textual gradients over their graphs (`NetworkGradients`), turns the global gradient's JSON-patch
edits into a new spec (refused whole if any edit or the result is invalid), and asks `TextGrad` (with
momentum over past values and memory of past gradients) for new prompts from the local gradients.
`apply` adopts the spec and the prompts and returns an `Update` that reverts both, so the trainer's
validation-gated acceptance works on structural changes exactly as on prompt changes.

Besides what went wrong, the backward phase keeps what went right: when a run scored full marks, the
agent whose turn it is may take its own input and reply from that run as a worked example (`demos`, as
DSPy bootstraps demonstrations). That candidate costs no optimizer call and goes first; the gate judges it
like any other change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from backprose.agent import Agent
from backprose.errors import InvalidEdit, InvalidSpec, InvalidUpdate
from backprose.llm.accounting import track_usage
from backprose.networks.patch import apply_patch
from backprose.networks.spec import validate_spec
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Change, Optimizer, Proposal, Update, missing_feedback
from backprose.optimizers.demos import add_demos, own_example
from backprose.optimizers.reduce import default_score
from backprose.optimizers.reflect import Reflect
from backprose.optimizers.textgrad import TextGrad

if TYPE_CHECKING:
    from backprose.networks.gradients import Gradients, NetworkGradients
    from backprose.networks.network import AgentNetwork

logger = logging.getLogger(__name__)
TARGETS = ("system", "instructions", "aggregator")
REWRITERS = ("textgrad", "reflect")


class NetworkOptimizer(Optimizer):
    """Optimize an `AgentNetwork`'s structure and prompts from global and local textual gradients.

    `targets` picks which texts get rewritten (agent `system` roles, agent `instructions`, layer
    `aggregator` prompts); `edits=False` keeps the structure fixed. `rewriter` picks who writes the new
    prompts: "textgrad" (from the local gradients; `momentum` and `gradient_memory` are how many past values
    and past gradients each rewrite sees) or "reflect" (from each prompt's runs, with the local gradient as
    advice). `per_step` rewrites only that many prompts per step, taken in turn from the output side back,
    as backpropagation goes, and computes local gradients only for their layers: a step costs fewer calls
    and a refused change says which prompt was at fault (GEPA rewrites one component per step for the same
    reason). `None` rewrites every prompt in every step. `demos` is how many worked examples an agent keeps
    at most (0: none): an agent whose turn it is, and which took part in a run that scored full marks,
    is first offered that run's input and reply as one more example (the oldest goes when it is full).
    `demos_only=True` proposes those examples and nothing else: no gradient, no rewrite, no structural edit
    (the "worked examples only" ablation: what the examples alone are worth, at no optimizer call).
    `temperature` is sent with every gradient and rewrite request.
    """

    def __init__(self, network: AgentNetwork, llm: Any = None, *, targets: Sequence[str] = ("instructions",),
                 edits: bool = True, momentum: int = 2, gradient_memory: int = 2, budget: int = 3000,
                 max_tokens: int = 384, gradients: NetworkGradients | None = None, workers: int = 1,
                 rewriter: str = "textgrad", per_step: int | None = None, demos: int = 2, demos_only: bool = False,
                 temperature: float = 0.0, **options: Any) -> None:
        from backprose.networks.gradients import NetworkGradients

        super().__init__(network.parameters(), llm, **options)
        unknown = set(targets) - set(TARGETS)
        if unknown:
            raise ValueError(f"unknown targets {sorted(unknown)}; pick from {TARGETS}")
        if rewriter not in REWRITERS:
            raise ValueError(f"rewriter={rewriter!r} is not one of {REWRITERS}")
        if per_step is not None and (isinstance(per_step, bool) or not isinstance(per_step, int) or per_step < 1):
            raise ValueError(f"per_step={per_step!r}: give how many prompts to rewrite per step (1 or more), or "
                             "None for all of them")
        if isinstance(demos, bool) or not isinstance(demos, int) or demos < 0:
            raise ValueError(f"demos={demos!r}: give how many worked examples an agent keeps at most (0 for none)")
        if demos_only and not demos:
            raise ValueError("demos_only=True with demos=0 could never propose anything; let each agent keep at "
                             "least one worked example (demos=1 or more)")
        self.demos_only = demos_only
        self.rewriter = rewriter
        self.per_step = per_step
        self.demos = demos
        self.turn = 0  # where the next step's rewrites start, in output-first order
        self.network = network
        self.targets = tuple(targets)
        self.edits = edits
        self.options: dict[str, Any] = dict(budget=budget, max_tokens=max_tokens, workers=workers,
                                            temperature=temperature)
        if rewriter == "textgrad":
            self.options.update(momentum=momentum, gradient_memory=gradient_memory)
        self.gradients = gradients or NetworkGradients(llm, max_tokens=max_tokens, temperature=temperature)
        self.last: Gradients | None = None
        self._prompts: TextGrad | Reflect | None = None

    @property
    def parameters(self) -> list[Parameter]:  # the network's set changes with its structure
        return self.network.parameters()

    def judged(self) -> tuple[list[Node], list[str], list[Any]]:
        """The judged outputs, their feedback texts and what each was asked (None where backward was not
        told), from what backward left on the structure."""
        found: dict[int, tuple[Node, str, Any]] = {}
        for fb in self.network.structure.feedback:
            if not fb.extra.get("gradient"):
                found.setdefault(id(fb.output), (fb.output, fb.user_feedback, fb.example_input))
        return [o for o, _, _ in found.values()], [t for _, t, _ in found.values()], [i for _, _, i in found.values()]

    def _targets(self) -> list[tuple[str, Parameter]]:
        """(layer name, parameter) for every trainable text this optimizer rewrites, layer by layer."""
        out = []
        for layer in self.network.layers:
            name = layer["name"]
            for aid in layer["agents"]:
                agent = self.network.agent(name, aid)
                out += [(name, getattr(agent, part)) for part in ("system", "instructions") if part in self.targets]
            if "aggregator" in self.targets and layer["aggregation"] in ("synthesis", "critic"):
                out.append((name, self.network.aggregator(name)))
        return [(name, p) for name, p in out if p.trainable]

    def target_parameters(self) -> list[Parameter]:
        return [p for _, p in self._targets()]

    def _this_step(self) -> list[tuple[str, Parameter]]:
        """The targets this step rewrites: all, or the next `per_step` in turn, output side first."""
        targets = self._targets()
        if self.per_step is None or not targets:
            return targets
        backwards = targets[::-1]
        picked = [backwards[(self.turn + k) % len(backwards)] for k in range(min(self.per_step, len(backwards)))]
        self.turn = (self.turn + len(picked)) % len(backwards)
        return picked

    def _agent_of(self, p: Parameter) -> Agent | None:
        return next((a for a in (self.network.agent(layer["name"], aid) for layer in self.network.layers
                                 for aid in layer["agents"]) if p is a.system or p is a.instructions), None)

    def _demo_proposal(self, chosen: list[tuple[str, Parameter]], outputs: list[Node], texts: list[str],
                       inputs: list[Any]) -> Proposal | None:
        """One more worked example for each chosen agent, from a run that scored full marks (an input the
        agent does not hold yet; a value not refused before), all in one proposal as rewrites are."""
        solved = [(o, i) for o, t, i in zip(outputs, texts, inputs, strict=True) if (default_score(t) or 0) >= 1]
        values: dict[Parameter, Any] = {}
        agents = [a for a in dict.fromkeys(self._agent_of(p) for _, p in chosen) if a is not None]
        for agent in agents if self.demos and solved else []:
            held = agent.demos._value
            for output, asked in solved:
                pair = own_example(agent.demos, output, asked)
                value = [] if pair is None else add_demos(held, [pair], self.demos)
                if value and value != held and not self.repeats_refusal(agent.demos, value):
                    values[agent.demos] = value
                    break
        if not values:
            return None
        return Proposal(values, "; ".join(f"{p.name}: keep the input and reply of a run that scored full marks as "
                                          "a worked example" for p in values), {}, {"spec": None, "demos": True})

    def _prompt_optimizer(self) -> TextGrad | Reflect:
        """The rewriter over the current targets, rebuilt when the structure changed them."""
        params = self.target_parameters()
        old = self._prompts
        if old is None or [id(p) for p in old.parameters] != [id(p) for p in params]:
            kind = TextGrad if self.rewriter == "textgrad" else Reflect
            self._prompts = kind(params, self._llm, retries=self.retries, **self.options)
            if isinstance(old, TextGrad) and isinstance(self._prompts, TextGrad):
                for p in params:  # momentum and gradient memory survive structural changes
                    for table in ("past_values", "past_gradients"):
                        if p in getattr(old, table):
                            getattr(self._prompts, table)[p].extend(getattr(old, table)[p])
        self._prompts.retries = self.retries
        self._prompts.refused = self.refused  # the trainer tells this optimizer; the rewriter must know
        return self._prompts

    # --- proposing ----------------------------------------------------------------------------------------
    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        outputs, texts, inputs = self.judged()
        if not outputs:
            self.warn_no_feedback([self.network.structure])
            return []
        chosen = self._this_step()
        demos = [d for d in [self._demo_proposal(chosen, outputs, texts, inputs)] if d is not None]
        if demos:
            self.log.append({"kind": "demos", "parameters": [p.name for p in demos[0].values]})
            if n == 1:  # nothing left to ask the model for: no gradients this step
                return demos
        if self.demos_only:
            return demos
        # TextGrad reads only the gradients; Reflect also reads each prompt's own runs from the trace feedback
        runs = {id(p): p.feedback for _, p in chosen} if self.rewriter == "reflect" else {}
        for p in self.network.parameters():
            p.zero_feedback()
        with track_usage() as usage:
            grads = self.gradients.backward(self.network, outputs, texts, layers={name for name, _ in chosen},
                                            inputs=inputs)
        picked = {id(p) for _, p in chosen}
        for p in self.target_parameters():
            if id(p) in picked:
                p.feedback[:0] = runs.get(id(p), [])
            else:  # a teammate of a chosen prompt got its layer's advice too, but waits for its turn
                p.zero_feedback()
        self.last = grads
        spec, notes = None, []
        if self.edits and grads.edits:
            try:
                spec = validate_spec(apply_patch(self.network.spec(), grads.edits), self.network.aggregations)
                if spec == validate_spec(self.network.spec(), self.network.aggregations):  # e.g. "vote" again
                    spec = None
                    notes.append("structure: the proposed edits change nothing")
                else:
                    notes.append(f"structure: {len(grads.edits)} edit(s) proposed")
            except (InvalidEdit, InvalidSpec) as exc:
                notes.append(f"structure: edits refused, the network stays as it is ({exc})")
                logger.info("NetworkOptimizer: %s", notes[-1][:300])
        rewritten = any(p.feedback for _, p in chosen)
        wanted = n - len(demos)
        prompt_proposals = self._prompt_optimizer().propose(wanted, **options) if rewritten else []
        self.log.append({"kind": "gradients", "critique": grads.critique, "edits": grads.edits,
                         "layers": grads.layers, "agents": grads.agents, "notes": notes})
        proposals = list(demos)
        for i in range(wanted):
            base = prompt_proposals[i] if i < len(prompt_proposals) else Proposal({})
            candidate_spec = spec if i == 0 else None
            if not base.values and candidate_spec is None:
                continue
            reasoning = "\n".join(x for x in [f"global: {grads.critique}" if grads.critique else "", *notes,
                                              base.reasoning] if x)
            merged = dict(usage.as_dict()) if i == 0 else {}
            proposals.append(Proposal(dict(base.values), reasoning, merged or base.usage,
                                      {"spec": candidate_spec, "candidate": i}))
        return proposals

    def no_proposal(self) -> str:
        if not self.judged()[0]:
            return missing_feedback([self.network.structure])
        if self.demos_only:
            return ("no run that scored full marks gave the agents in turn an example they lack or that was not "
                    "refused before (worked examples only)")
        return "the backward phase proposed no edit and no new prompt"

    # --- applying -----------------------------------------------------------------------------------------
    def apply(self, proposal: Proposal) -> Update:
        """Adopt the proposed spec (validated; refused whole if invalid), then the proposed texts."""
        update = Update(reasoning=proposal.reasoning, usage=dict(proposal.usage))
        spec = proposal.meta.get("spec")
        if spec is not None:
            before = self.network.structure._value
            try:
                update.changes += [Change(p, old, new, True) for p, old, new in self.network.set_spec(spec)]
            except (InvalidSpec, InvalidUpdate) as exc:
                update.changes.append(Change(self.network.structure, before, spec, False, str(exc)))
        active = {id(p) for p in self.network.parameters()}
        values = {p: v for p, v in proposal.values.items() if id(p) in active}
        rest = super().apply(Proposal(values, proposal.reasoning))
        update.changes += rest.changes
        update.note = "" if update.accepted else rest.note
        return update

    # --- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "turn": self.turn,
                "prompts": self._prompts.state_dict() if self._prompts else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.turn = int(state.get("turn", 0))
        saved = state.get("prompts") or state.get("textgrad")
        if saved:
            prompts = self._prompt_optimizer()
            prompts.load_state_dict(saved)
            prompts.refused = self.refused  # one memory of refusals, this optimizer's (loaded above)
