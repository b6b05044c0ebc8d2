"""TextGrad: textual gradient descent. Gradients come from `TextualGradients` during backward; a step makes
one update call per parameter (all of them concurrently), each seeing the parameter's gradients reduced
within the budget, its constraints, in-context examples, its past values (momentum) and past gradients.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backprose.errors import ReplyFormatError
from backprose.llm.accounting import track_usage
from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal
from backprose.optimizers.gradients import TextualGradients
from backprose.optimizers.problem import show
from backprose.optimizers.prompts import Templates
from backprose.optimizers.reduce import reduce_feedback
from backprose.optimizers.replies import aask_json, ask_json, checked, coerce, reserve_tokens
from backprose.optimizers.sampling import candidate_options

__all__ = ["TextGrad", "TextualGradients"]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "value": {}},
    "required": ["reasoning", "value"],
}
HISTORY_CHARS = 400  # one remembered value or gradient at most


class TextGrad(Optimizer):
    """Textual gradient descent over the gradients `opt.propagator` wrote during backward.

    Options: `budget` (tokens per prompt), `momentum` (past values shown, 0 for none), `gradient_memory`
    (past gradients shown), `examples` (in-context examples: a list for every parameter, or a dict keyed by
    parameter), `constraints` (extra constraint texts for every parameter), `skip_above` (examples scoring
    at least this are left out of the gradients), `workers` (concurrent calls), `templates`.
    """

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 budget: int = 4000, momentum: int = 0, gradient_memory: int = 0,
                 examples: Sequence[str] | Mapping[Parameter, Sequence[str]] | None = None,
                 constraints: Sequence[str] = (), skip_above: float | None = None, temperature: float = 0.0,
                 max_tokens: int = 1024, workers: int = 4, templates: Any = None, **defaults: Any) -> None:
        super().__init__(parameters, llm, **defaults)
        self.templates = Templates(templates)
        self.budget = budget
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.workers = workers
        self.skip_above = skip_above
        self.constraints = list(constraints)
        self.examples = examples
        self.momentum = momentum
        self.gradient_memory = gradient_memory
        self.past_values: dict[Parameter, deque[str]] = {p: deque(maxlen=momentum or 1) for p in self.parameters}
        self.past_gradients: dict[Parameter, deque[str]] = {
            p: deque(maxlen=gradient_memory or 1) for p in self.parameters}
        self._reserve = reserve_tokens(SCHEMA, self.templates)
        self._propagator: TextualGradients | None = None

    @property
    def propagator(self) -> TextualGradients:
        """The gradient propagator for `out.backward(fb, propagator=opt.propagator)`: same model and budget."""
        if self._propagator is None:
            self._propagator = TextualGradients(self._llm, budget=self.budget, templates=self.templates,
                                                skip_above=self.skip_above, workers=self.workers, log=self.log)
            if self._propagator._llm is None:
                self._propagator._llm = self.llm
        return self._propagator

    # --- the prompt ---------------------------------------------------------------------------------------
    def _examples(self, p: Parameter) -> list[str]:
        if self.examples is None:
            return []
        if isinstance(self.examples, Mapping):
            return list(self.examples.get(p, ()))
        return list(self.examples)

    def messages(self, p: Parameter) -> list[dict[str, str]]:
        """The update prompt for `p`, within the budget. Changes nothing."""
        system = self.templates.render("textgrad_update_system.j2")
        room = (self.budget - self._reserve - estimate_tokens(system) - 40) * 4
        kind = p.value_type + (f" in [{p.bounds[0]}, {p.bounds[1]}]" if p.bounds else "")
        if p.value_type == "code":
            kind += f": keep `def {getattr(p, 'func_name', '')}({getattr(p, 'signature_text', '')})`"
        constraints = [c for c in [p.constraint, *self.constraints] if c]
        variables = dict(
            name=p.name, role=p.description or "", kind=kind, value=show(p._value, max(room * 2 // 5, 200)),
            constraints=[show(c, 400) for c in constraints],
            examples=[show(e, 600) for e in self._examples(p)][:5],
            past_values=[show(v, HISTORY_CHARS) for v in self.past_values[p]] if self.momentum else [],
            past_gradients=[show(g, HISTORY_CHARS) for g in self.past_gradients[p]] if self.gradient_memory else [],
        )
        fixed = self.templates.render("textgrad_update.j2", gradients="", **variables)
        gradients = reduce_feedback(p.feedback, max(room - len(fixed), 200), self.skip_above)
        user = self.templates.render("textgrad_update.j2", gradients=gradients, **variables)
        limit = self.budget - self._reserve - estimate_tokens(system) - 16
        if messages_tokens([{"content": user}]) > limit:
            user = user[: max(limit * 4 - 80, 0)] + "\n[cut to fit the budget]"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    # --- proposing ----------------------------------------------------------------------------------------
    @staticmethod
    def _checker(p: Parameter) -> Any:
        def check(reply: Any) -> list[str]:
            if not isinstance(reply, dict) or "value" not in reply:
                return ['the reply must be an object with "reasoning" and "value"']
            try:
                checked(p, reply["value"])
            except Exception as exc:  # InvalidUpdate, or a projection's own error
                return [str(exc)]
            return []
        return check

    @staticmethod
    def _salvage(p: Parameter, err: ReplyFormatError) -> tuple[Any, str]:
        """A parsed but invalid value still goes to apply(), which refuses it with the reason."""
        if isinstance(err.value, dict) and "value" in err.value:
            try:
                return coerce(p, err.value["value"]), f"{p.name}: {err.value.get('reasoning', '')}"
            except Exception:
                return err.value["value"], f"{p.name}: {err.value.get('reasoning', '')}"
        return None, f"{p.name}: the model's reply was unusable: {'; '.join(err.problems)}"

    def _one(self, p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> tuple[Any, str]:
        try:
            reply = ask_json(self.llm, messages, SCHEMA, self._checker(p), self.templates, self.log, **opts)
        except ReplyFormatError as err:
            return self._salvage(p, err)
        return coerce(p, reply["value"]), f"{p.name}: {reply.get('reasoning', '')}"

    def _remember(self, params: list[Parameter]) -> None:
        for p in params:
            if self.momentum:
                seen = show(p._value, HISTORY_CHARS)
                if not self.past_values[p] or self.past_values[p][-1] != seen:
                    self.past_values[p].append(seen)
            if self.gradient_memory:
                grad = reduce_feedback(p.feedback, HISTORY_CHARS, self.skip_above)
                if grad and (not self.past_gradients[p] or self.past_gradients[p][-1] != grad):
                    self.past_gradients[p].append(grad)

    def _assemble(self, params: list[Parameter], results: list[tuple[Any, str]], usage: Any, i: int) -> Proposal:
        values = {p: v for p, (v, _) in zip(params, results, strict=True) if v is not None}
        return Proposal(values, "\n".join(r for _, r in results), usage.as_dict(), {"candidate": i})

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        params = self.trainable()
        if not params:
            return []
        prompts = [self.messages(p) for p in params]
        proposals = []
        for i in range(n):
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage, ThreadPoolExecutor(max(1, min(self.workers, len(params)))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, self._one, p, m, opts)
                           for p, m in zip(params, prompts, strict=True)]
                results = [f.result() for f in futures]
            proposals.append(self._assemble(params, results, usage, i))
        self._remember(params)
        return proposals

    async def apropose(self, n: int = 1, **options: Any) -> list[Proposal]:
        params = self.trainable()
        if not params:
            return []
        prompts = [self.messages(p) for p in params]

        async def one(p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> tuple[Any, str]:
            try:
                reply = await aask_json(self.llm, messages, SCHEMA, self._checker(p), self.templates, self.log,
                                        **opts)
            except ReplyFormatError as err:
                return self._salvage(p, err)
            return coerce(p, reply["value"]), f"{p.name}: {reply.get('reasoning', '')}"

        async def candidate(i: int) -> Proposal:
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage:
                results = await asyncio.gather(*(one(p, m, opts) for p, m in zip(params, prompts, strict=True)))
            return self._assemble(params, list(results), usage, i)

        proposals = list(await asyncio.gather(*(candidate(i) for i in range(n))))
        self._remember(params)
        return proposals

    # --- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "past_values": {p.name: list(d) for p, d in self.past_values.items()},
                "past_gradients": {p.name: list(d) for p, d in self.past_gradients.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, table in (("past_values", self.past_values), ("past_gradients", self.past_gradients)):
            saved = state.get(key, {})
            for p, memory in table.items():
                memory.clear()
                memory.extend(saved.get(p.name, []))
