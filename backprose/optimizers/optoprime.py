"""OptoPrime: one LLM call per step reads the minimal subgraph as pseudo-code and rewrites the variables.

The prompt is bounded: whatever the graph's size it stays within `budget` tokens (see `problem.fit` for
what gives way first), and it says what it left out. An optional memory shows past values with the
feedback they got, so the model does not propose the same failing value twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from backprose.errors import ReplyFormatError
from backprose.llm.accounting import track_usage
from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal
from backprose.optimizers.problem import Layout, Problem, fit, show
from backprose.optimizers.prompts import Templates
from backprose.optimizers.replies import (
    SUGGESTION_SCHEMA,
    aask_json,
    ask_json,
    check_values,
    failed_proposal,
    reply_proposal,
    reserve_tokens,
)
from backprose.optimizers.sampling import candidate_options
from backprose.trace.backward import Feedback

SCHEMA = SUGGESTION_SCHEMA
INSTRUCTION = ("Change the values in #Variables to improve the outputs according to #Feedback. "
               "Each variable's description says what it is for.")
MEMORY_CHARS = 600  # one memory entry at most


def collect_feedback(params: Iterable[Parameter]) -> tuple[list[Node], list[tuple[Node, str]]]:
    """The judged outputs behind the parameters' feedback, each once, with their feedback texts joined."""
    outputs: dict[int, Node] = {}
    texts: dict[int, list[str]] = {}
    for p in params:
        for record in p.feedback:
            key = id(record.output)
            outputs.setdefault(key, record.output)
            bucket = texts.setdefault(key, [])
            text = record.user_feedback or record.text
            if text not in bucket:
                bucket.append(text)
    return list(outputs.values()), [(outputs[k], "\n".join(texts[k])) for k in outputs]


def collect_asked(params: Iterable[Parameter]) -> list[tuple[Node, list[Feedback]]]:
    """Each judged output behind the parameters' feedback with its records, which carry what it was asked."""
    groups: dict[int, tuple[Node, list[Feedback]]] = {}
    for p in params:
        for record in p.feedback:
            groups.setdefault(id(record.output), (record.output, []))[1].append(record)
    return list(groups.values())


class OptoPrime(Optimizer):
    """Rewrite parameters from the execution trace and the feedback, in one call per candidate.

    Options: `budget` (prompt tokens, default 8000), `memory_size` (past (values, feedback) pairs shown,
    0 for none), `temperature`, `max_tokens` (of the reply), `templates` (a folder or dict overriding
    `optoprime_system.j2` / `optoprime_user.j2`), `instruction` (the #Instruction text).
    """

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 budget: int = 8000, memory_size: int = 0, temperature: float = 0.0, max_tokens: int = 1024,
                 templates: Any = None, instruction: str = INSTRUCTION, **options: Any) -> None:
        super().__init__(parameters, llm, **options)
        self.templates = Templates(templates)
        self.budget = budget
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.instruction = instruction
        self.memory: deque[str] = deque(maxlen=max(memory_size, 0) or None)
        self.memory_size = memory_size
        self._reserve = reserve_tokens(SCHEMA, self.templates)
        if budget < self._reserve + 300:
            raise ValueError(f"budget={budget} tokens cannot hold even the instructions; give at least "
                             f"{self._reserve + 300}")

    # --- the prompt ---------------------------------------------------------------------------------------
    def render(self, params: list[Parameter] | None = None) -> tuple[list[dict[str, str]], dict[str, Parameter]]:
        """The messages of this step's prompt and the variable names it uses. Changes nothing."""
        params = params if params is not None else self.trainable()
        outputs, feedback = collect_feedback(params)
        layout = Layout(params, outputs, feedback, collect_asked(params))
        system = self.templates.render("optoprime_system.j2")
        empty = self.templates.render("optoprime_user.j2", instruction=self.instruction, **Problem().as_vars())
        frame = messages_tokens([{"content": system}, {"content": empty}])
        limit = (self.budget - self._reserve - frame - 16) * 4
        memory = list(self.memory) if self.memory_size else []
        problem = fit(layout, max(limit, 0), memory)
        user = self.templates.render("optoprime_user.j2", instruction=self.instruction, **problem.as_vars())
        room = self.budget - self._reserve
        if messages_tokens([{"content": system}, {"content": user}]) > room:  # the estimate was off: cut
            keep = max((room - estimate_tokens(system) - 40) * 4, 0)
            user = user[:keep] + "\n[the rest of this prompt was cut to fit the budget]"
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return messages, {layout.labels[p]: p for p in params}

    def _remember(self, names: dict[str, Parameter], messages: list[dict[str, str]]) -> None:
        if not self.memory_size:
            return
        _, feedback = collect_feedback(names.values())
        values = ", ".join(f"{n} = {show(p._value, 200)}" for n, p in names.items())
        fb = " | ".join(text for _, text in feedback)
        entry = show(f"variables: {values}; feedback: {fb}", MEMORY_CHARS)
        if not self.memory or self.memory[-1] != entry:
            self.memory.append(entry)

    # --- proposing ----------------------------------------------------------------------------------------
    def _checker(self, names: dict[str, Parameter]) -> Any:
        def checker(value: Any) -> list[str]:
            return check_values(names, value.get("suggestion") if isinstance(value, dict) else None)
        return checker

    _proposal = staticmethod(reply_proposal)

    _failed = staticmethod(failed_proposal)

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        params = self.ready()
        if not params:
            return []
        messages, names = self.render(params)
        proposals = []
        for i in range(n):
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage:
                try:
                    reply = ask_json(self.llm, messages, SCHEMA, self._checker(names), self.templates, self.log,
                                     retries=self.retries, **opts)
                except ReplyFormatError as err:
                    proposals.append(self._failed(err, usage, i, names))
                    continue
            proposals.append(self._proposal(reply, names, usage, i))
        self._remember(names, messages)
        return proposals

    async def apropose(self, n: int = 1, **options: Any) -> list[Proposal]:
        params = self.ready()
        if not params:
            return []
        messages, names = self.render(params)

        async def one(i: int) -> Proposal:
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage:
                try:
                    reply = await aask_json(self.llm, messages, SCHEMA, self._checker(names), self.templates,
                                            self.log, retries=self.retries, **opts)
                except ReplyFormatError as err:
                    return self._failed(err, usage, i, names)
            return self._proposal(reply, names, usage, i)

        proposals = list(await asyncio.gather(*(one(i) for i in range(n))))
        self._remember(names, messages)
        return proposals

    # --- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "memory": list(self.memory)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.memory.clear()
        self.memory.extend(state.get("memory", []))
