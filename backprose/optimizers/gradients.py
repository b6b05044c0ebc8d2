"""Textual gradients: a propagator that asks the LLM, per edge, how each input should change.

Plug it into backward: `out.backward("too verbose", propagator=TextualGradients(llm))`. A node's received
feedback (reduced within the budget, worst examples first) and its op's documentation go into one call per
input that depends on a trainable parameter; inputs that do not are skipped. The calls for one node's
inputs run concurrently, and they are counted by any `track_usage()` open around backward.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.message import Message
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.problem import show, show_node
from backprose.optimizers.prompts import Templates
from backprose.optimizers.reduce import default_score, reduce_feedback
from backprose.trace.backward import Feedback
from backprose.trace.graph import topological_order


class TextualGradients:
    """The TextGrad propagator. `budget` bounds each gradient prompt in tokens; `score` reads a score from
    the user's feedback text (default: 'score: 0.4'); examples scoring `skip_above` or more are skipped."""

    def __init__(self, llm: Any = None, *, budget: int = 4000, max_tokens: int = 256, temperature: float = 0.0,
                 templates: Any = None, score: Callable[[str], float | None] = default_score,
                 skip_above: float | None = None, workers: int = 4,
                 log: list[dict[str, Any]] | None = None) -> None:
        self._llm = llm
        self.budget = budget
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.templates = templates if isinstance(templates, Templates) else Templates(templates)
        self.score = score
        self.skip_above = skip_above
        self.workers = workers
        self.log: list[dict[str, Any]] = log if log is not None else []
        self._reaches: weakref.WeakKeyDictionary[Node, bool] = weakref.WeakKeyDictionary()

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from backprose.llm import default

            self._llm = default()
        return self._llm

    # --- the propagator protocol ----------------------------------------------------------------------
    def start(self, output: Node, text: str) -> Feedback:
        for node in topological_order(output):  # which nodes lead back to a trainable parameter
            self._reaches[node] = (isinstance(node, Parameter) and node.trainable) or any(
                self._reaches.get(p, False) for p in node.inputs)
        return Feedback(text=text, output=output, user_feedback=text, extra={"score": self.score(text)})

    def propagate(self, node: Node, received: list[Feedback]) -> list[list[Feedback]]:
        inputs = node.inputs
        wanted = [i for i, p in enumerate(inputs) if self._reaches.get(p, False)]
        out: list[list[Feedback]] = [[] for _ in inputs]
        if not wanted or not received:
            return out
        worst = min(received, key=lambda r: r.extra.get("score") if r.extra.get("score") is not None
                    else float("-inf"))
        scores = [r.extra["score"] for r in received if r.extra.get("score") is not None]
        if len(wanted) == 1 or self.workers <= 1:
            texts = [self._gradient(node, inputs[i], received) for i in wanted]
        else:
            with ThreadPoolExecutor(min(self.workers, len(wanted))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, self._gradient, node, inputs[i], received)
                           for i in wanted]
                texts = [f.result() for f in futures]
        for i, text in zip(wanted, texts, strict=True):
            out[i] = [Feedback(text=text, output=worst.output, user_feedback=worst.user_feedback, sender=node,
                               extra={"score": min(scores) if scores else None},
                               example_input=worst.example_input)]
        return out

    # --- one gradient call --------------------------------------------------------------------------------
    def messages(self, node: Node, target: Node, received: list[Feedback]) -> list[dict[str, str]]:
        """The prompt asking how `target` (an input of `node`) should change; within the budget."""
        system = self.templates.render("textgrad_gradient_system.j2")
        room = (self.budget - estimate_tokens(system) - 120) * 4
        cap = max(room // 5, 80)
        op = node.op if isinstance(node, Message) else None
        others = [f"{p.name} = {show(p._value, cap // 4)}" for p in node.parents if p is not target][:8]
        variables = dict(
            op_name=op.name if op else node.name, op_doc=show(op.doc, cap // 2) if op else "",
            target_name=target.name, target_role=target.description or "", target_value=show(target._value, cap),
            others=others, output_value=show_node(node, cap),
            output_role=node.description or "",
        )
        fixed = self.templates.render("textgrad_gradient.j2", feedback="", **variables)
        feedback_room = max(room - len(fixed), 200)
        shown = [show(p._value, None) for p in node.parents]  # an input node already shows what was asked
        feedback = reduce_feedback(received, feedback_room, self.skip_above, shown=shown)
        user = self.templates.render("textgrad_gradient.j2", feedback=feedback, **variables)
        limit = self.budget - estimate_tokens(system) - 16
        if messages_tokens([{"content": user}]) > limit:
            user = user[: max(limit * 4 - 80, 0)] + "\n[cut to fit the budget]"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _gradient(self, node: Node, target: Node, received: list[Feedback]) -> str:
        messages = self.messages(node, target, received)
        reply = self.llm.complete(messages, max_tokens=self.max_tokens, temperature=self.temperature).text
        self.log.append({"kind": "gradient", "node": node.name, "input": target.name, "messages": messages,
                         "reply": reply})
        return reply.strip() or "(no suggestion)"
