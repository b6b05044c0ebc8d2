"""TextGrad: textual gradient descent. Gradients come from `TextualGradients` during backward; a step makes
one update call per parameter (all of them concurrently), each seeing the parameter's gradients reduced
within the budget, its constraints, in-context examples, its past values (momentum) and past gradients.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.parameter import Parameter
from backprose.optimizers.gradients import TextualGradients
from backprose.optimizers.per_parameter import PerParameterOptimizer
from backprose.optimizers.problem import show
from backprose.optimizers.prompts import Templates
from backprose.optimizers.reduce import reduce_feedback
from backprose.optimizers.replies import reserve_tokens

__all__ = ["TextGrad", "TextualGradients"]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "value": {}},
    "required": ["reasoning", "value"],
}
HISTORY_CHARS = 400  # one remembered value or gradient at most


class TextGrad(PerParameterOptimizer):
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
                 max_tokens: int = 1024, workers: int = 4, templates: Any = None, **options: Any) -> None:
        super().__init__(parameters, llm, **options)
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
    def schema(self, p: Parameter) -> Mapping[str, Any]:
        return SCHEMA

    def check(self, p: Parameter, reply: Any) -> list[str]:
        if not isinstance(reply, dict) or "value" not in reply:
            return ['the reply must be an object with "reasoning" and "value"']
        try:
            p.check(reply["value"])
        except Exception as exc:  # InvalidUpdate, or a projection's own error
            return [str(exc)]
        return []

    def remember(self, params: list[Parameter]) -> None:
        for p in params:
            if self.momentum:
                seen = show(p._value, HISTORY_CHARS)
                if not self.past_values[p] or self.past_values[p][-1] != seen:
                    self.past_values[p].append(seen)
            if self.gradient_memory:
                grad = reduce_feedback(p.feedback, HISTORY_CHARS, self.skip_above, inputs=False)
                if grad and (not self.past_gradients[p] or self.past_gradients[p][-1] != grad):
                    self.past_gradients[p].append(grad)

    # --- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "past_values": {p.name: list(d) for p, d in self.past_values.items()},
                "past_gradients": {p.name: list(d) for p, d in self.past_gradients.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for key, table in (("past_values", self.past_values), ("past_gradients", self.past_gradients)):
            saved = state.get(key, {})
            for p, memory in table.items():
                memory.clear()
                memory.extend(saved.get(p.name, []))
