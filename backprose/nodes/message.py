"""Messages are outputs of traced ops; an ErrorNode is the output of an op that raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backprose.nodes.node import Node


@dataclass(frozen=True)
class Op:
    """What produced a message: a name and the documentation an optimizer reads to understand the op."""

    name: str
    doc: str = ""
    source: str = ""


class Message(Node):
    """The output of a traced op. `parents` are its node inputs; `control` the conditions that steered it.

    `truncated` says the value was cut short: a model reply that stopped at its token limit, not where the
    model would have ended it. `token_limit` is that limit (a model call's `max_tokens`), when one was set."""

    kind = "message"
    __slots__ = ("op", "truncated", "token_limit")

    def __init__(
        self,
        value: Any,
        op: Op,
        parents: tuple[Node, ...],
        control: tuple[Node, ...] = (),
        scope: str = "",
        description: str = "",
    ) -> None:
        self._value = value
        self.name = op.name
        self.description = description
        self.parents = parents
        self.control = control
        self.feedback = []
        self.scope = scope
        self.op = op
        self.truncated = False
        self.token_limit: int | None = None


class ErrorNode(Message):
    """An op raised. Its value is the error text an optimizer sees: exception, message and failing line."""

    kind = "error"
    __slots__ = ("exception",)

    def __init__(self, exception: BaseException | None, text: str, op: Op, parents: tuple[Node, ...],
                 control: tuple[Node, ...] = (), scope: str = "") -> None:
        super().__init__(text, Op(f"{op.name}.error", op.doc, op.source), parents, control, scope)
        self.exception = exception
