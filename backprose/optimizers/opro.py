"""OPRO: optimization by prompting. The model sees past values with their scores (best last) and proposes
values that should score higher. The history is bounded: when full, the lowest-scored entry goes.

Scores come from `step(score=...)` / `observe(score)`, or from the feedback text ('score: 0.7'). The
feedback of an entry shows each example's input beside the grader's words when the trainer passed it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any

from backprose.errors import ReplyFormatError
from backprose.llm.accounting import track_usage
from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal
from backprose.optimizers.optoprime import collect_asked, collect_feedback
from backprose.optimizers.problem import example_input, show, show_ends
from backprose.optimizers.prompts import Templates
from backprose.optimizers.reduce import default_score
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

SCHEMA = SUGGESTION_SCHEMA
ENTRY_CHARS = 600
FEEDBACK_CHARS = 600  # the feedback of one history entry at most (its examples' inputs and the grader's words)
INPUT_CHARS = 160  # one example's input in that feedback at most


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _unscored(entry: Mapping[str, Any]) -> float:
    return float("-inf") if entry["score"] is None else entry["score"]


def _with_inputs(params: list[Parameter], pairs: list[tuple[Node, str]]) -> str:
    """Each example's feedback after what it asked (cut to `INPUT_CHARS`), one line each; "" when no
    feedback record carries its example's input."""
    asked = {id(out): example_input(records) for out, records in collect_asked(params)}
    if not any(asked.values()):
        return ""
    return "\n".join((f"[input: {show_ends(asked[id(out)], INPUT_CHARS)}] " if asked.get(id(out)) else "") + text
                     for out, text in pairs)


class OPRO(Optimizer):
    """Propose new values from a scored history of past values (`history_size` entries, best last)."""

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 history_size: int = 20, budget: int = 4000, temperature: float = 0.0, max_tokens: int = 1024,
                 task: str = "", templates: Any = None, **options: Any) -> None:
        super().__init__(parameters, llm, **options)
        self.templates = Templates(templates)
        self.history_size = history_size
        self.budget = budget
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.task = task
        self.history: list[dict[str, Any]] = []
        self._reserve = reserve_tokens(SCHEMA, self.templates)

    def trainable(self) -> list[Parameter]:
        return [p for p in self.parameters if p.trainable]

    # --- the scored history -------------------------------------------------------------------------------
    def observe(self, score: float | None = None, feedback: str = "") -> dict[str, Any]:
        """Record the current values with their score (or the score read from the parameters' feedback)."""
        params = self.trainable()
        if not feedback:
            _, pairs = collect_feedback(params)
            graded = " | ".join(text for _, text in pairs)
            if score is None and graded:  # read from the grader's words only, never from an input
                score = default_score(graded)
            feedback = _with_inputs(params, pairs) or graded
        elif score is None:
            score = default_score(feedback)
        entry = {"values": {p.name: _plain(p._value) for p in params}, "score": score,
                 "feedback": feedback}
        self.history = [e for e in self.history if e["values"] != entry["values"]] + [entry]
        self.history.sort(key=_unscored)  # stable: equal scores keep their age order
        while len(self.history) > self.history_size:
            self.history.pop(0)
        return entry

    # --- the prompt ---------------------------------------------------------------------------------------
    def messages(self) -> tuple[list[dict[str, str]], dict[str, Parameter]]:
        params = self.trainable()
        names = {p.name: p for p in params}
        system = self.templates.render("opro_system.j2")
        variables = [{"name": p.name, "type": p.value_type, "description": p.description or "",
                      "constraint": p.constraint or "", "bounds": list(p.bounds) if p.bounds else None,
                      "value": show(p._value, 2000)} for p in params]
        entries = [{"values": json.dumps(e["values"], ensure_ascii=False), "score": e["score"],
                    "feedback": e["feedback"]} for e in self.history]
        entries = [{**e, "values": show(e["values"], ENTRY_CHARS), "feedback": show(e["feedback"], FEEDBACK_CHARS)}
                   for e in entries]
        limit = self.budget - self._reserve - estimate_tokens(system) - 16
        while True:
            user = self.templates.render("opro_user.j2", task=self.task, variables=variables, history=entries)
            if messages_tokens([{"content": user}]) <= limit or not entries:
                break
            entries = entries[1:]  # the lowest-scored entry goes first
        if messages_tokens([{"content": user}]) > limit:
            user = user[: max(limit * 4 - 80, 0)] + "\n[cut to fit the budget]"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], names

    # --- proposing ----------------------------------------------------------------------------------------
    def _checker(self, names: dict[str, Parameter]) -> Any:
        def checker(value: Any) -> list[str]:
            return check_values(names, value.get("suggestion") if isinstance(value, dict) else None)
        return checker

    def _prepare(self, options: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Parameter]] | None:
        score = options.pop("score", None)
        params = self.trainable()
        if not params:
            return None
        if score is not None or any(p.feedback for p in params):
            self.observe(score)
        else:  # the current values join no history: the proposal is blind to how they did
            self.warn_no_feedback(params)
        return self.messages()

    _result = staticmethod(reply_proposal)

    _failed = staticmethod(failed_proposal)

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        """`n` candidates; pass `score=` to record the current values' score first."""
        prepared = self._prepare(options)
        if prepared is None:
            return []
        messages, names = prepared
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
            proposals.append(self._result(reply, names, usage, i))
        return proposals

    async def apropose(self, n: int = 1, **options: Any) -> list[Proposal]:
        prepared = self._prepare(options)
        if prepared is None:
            return []
        messages, names = prepared

        async def one(i: int) -> Proposal:
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage:
                try:
                    reply = await aask_json(self.llm, messages, SCHEMA, self._checker(names), self.templates,
                                            self.log, retries=self.retries, **opts)
                except ReplyFormatError as err:
                    return self._failed(err, usage, i, names)
            return self._result(reply, names, usage, i)

        return list(await asyncio.gather(*(one(i) for i in range(n))))

    # --- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": [dict(e) for e in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.history = [dict(e) for e in state.get("history", [])]
