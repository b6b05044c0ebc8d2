"""`Recipe`: what `bp.train` optimizes with when no optimizer is given.

Two moves, from the same minibatch rollouts, each suited to what it changes:
- worked examples (`Demos`): the input and reply of each run that scored full marks join the program's
  worked-example parameters. No model call, and no strong optimizer model needed: a correct run is its own
  proof, and a small program model follows a shown example far more reliably than an instruction.
- reflective rewrites (`Reflect(explore=True)`) of every other parameter (instructions, prompts): the
  optimizer model reads each example's input, output and the grader's words and writes a new value. A reply
  that repeats the current value or a refused one is asked again, hotter and from another angle, and the
  next step after a refusal starts from there too (see `exploring.py`).

Each step offers the trainer up to three candidates: the worked examples, the rewrite, and both together
(free: it reuses the two). The trainer races them on the minibatch, cheapest first, and validates only a
winner; with the default recipe it keeps every validated candidate in a per-example Pareto pool and draws
the next parent from its front (GEPA's search), so a change that fixes some examples is not lost because
it breaks others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from backprose.errors import CallBudgetExhausted
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal, Update
from backprose.optimizers.demos import Demos, is_worked_examples
from backprose.optimizers.reflect import Reflect

__all__ = ["Recipe"]

log = logging.getLogger("backprose")

REMEMBERED = 64  # refused values kept per parameter, so that no refused value is tried again


class Recipe(Optimizer):
    """Reflective rewrites for text parameters together with worked examples; see the module docstring.

    `demos` is how many worked examples a parameter keeps at most: 16, DSPy's default for labeled demos (on
    two BIG-bench tasks' validation splits the 0.5B program model scored 0.65 / 0.65 / 0.70 and
    0.24 / 0.33 / 0.33 with 3 / 8 / 16 labeled examples; a longer prompt is the price). `demo_tokens` is how
    many prompt tokens (estimated) they may take together, the oldest going first: 2500 held 16 examples of
    either task (1862 at most) and leaves room for the question and reply in a 4096-token context; None
    sets no limit. `labeled` is whether a missed example's target (when the guide accepts it) may be one
    (see `Demos`); `retries` how many exploring retries a rewrite may take (each is one model call, and none
    is made when the call budget cannot test its result). `temperature`, `max_tokens`, `budget`,
    `max_examples`, `workers` and `templates` go to `Reflect`.
    """

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 demos: int = 16, demo_tokens: int | None = 2500, labeled: bool = True, retries: int = 2,
                 temperature: float = 0.0, max_tokens: int = 400, budget: int = 3000, max_examples: int = 8,
                 workers: int = 4, templates: Any = None, **options: Any) -> None:
        super().__init__(parameters, llm, retries=retries, **options)
        examples = [p for p in self.parameters if is_worked_examples(p)]
        others = [p for p in self.parameters if not is_worked_examples(p)]
        self.demos = Demos(examples, k=demos, max_tokens=demo_tokens, labeled=labeled) if examples else None
        self.rewriter = Reflect(others, llm, retries=retries, temperature=temperature, max_tokens=max_tokens,
                                budget=budget, max_examples=max_examples, workers=workers, templates=templates,
                                explore=True) if others else None
        self.max_refused = REMEMBERED
        self._share()

    @property
    def uses_references(self) -> bool:
        return self.demos is not None and self.demos.uses_references

    def offer(self, spares: Iterable[tuple[Any, str]]) -> None:
        """Labeled examples from outside the minibatch, for the worked examples (see `Demos.offer`)."""
        if self.demos is not None:
            self.demos.offer(spares)

    def zero_feedback(self) -> None:
        for part in self._parts():  # together they hold every parameter; the worked examples' offer ends too
            part.zero_feedback()

    def _share(self) -> None:
        """One memory of refusals and one log for the recipe and its two parts."""
        for part in self._parts():
            part.refused, part.log, part.max_refused = self.refused, self.log, self.max_refused
            part._llm = self._llm

    def _parts(self) -> list[Optimizer]:
        return [p for p in (self.demos, self.rewriter) if p is not None]

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        """The worked examples (if a run scored full marks), `n` rewrites, and the first rewrite together
        with the examples; nothing when no parameter got feedback."""
        ready = self.ready()
        if not ready:
            return []
        out: list[Proposal] = []
        if self.demos is not None:
            held = set(self.demos.parameters)
            found = self.demos.proposal_for([p for p in ready if p in held])
            out += [found] if found is not None else []
        if self.rewriter is not None:
            self.rewriter.retries = self.retries
            if self._llm is not None:
                self.rewriter._llm = self._llm
            mine = set(self.rewriter.parameters)
            try:
                rewrites = [r for r in self.rewriter.propose_for([p for p in ready if p in mine], n, **options)
                            if r.values]
            except CallBudgetExhausted as exc:
                if not out:
                    raise
                # the optimizer model's own budget (a capped client) is spent, not necessarily the program's:
                # worked examples cost it nothing, so the step goes on with them alone
                log.warning("recipe: no rewrite this step (%s); offering the worked examples alone", exc)
                rewrites = []
            if out and rewrites:
                both = Proposal({**rewrites[0].values, **out[0].values},
                                f"{rewrites[0].reasoning}\n{out[0].reasoning}", {}, {"demos": True, "both": True})
                out += [*rewrites, both]
            else:
                out += rewrites
        return out

    def no_proposal(self) -> str:
        if not self.trainable():
            return super().no_proposal()
        return ("no new worked example (no run scored full marks, and no missed one has a target the guide "
                "accepts, with an input the worked examples lack), and the rewrite gave no usable new value")

    def record_refusal(self, update: Update, reason: str) -> None:
        super().record_refusal(update, reason)  # the memory both parts share, logged as the recipe's
        if self.rewriter is not None:
            self.rewriter.explore_after(update)  # its next request for a refused rewrite explores

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rewriter": self.rewriter.state_dict() if self.rewriter else None,
                "demos": self.demos.state_dict() if self.demos else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if self.rewriter is not None and state.get("rewriter"):
            self.rewriter.load_state_dict(state["rewriter"])
        if self.demos is not None and state.get("demos"):
            self.demos.load_state_dict(state["demos"])
        self._share()
