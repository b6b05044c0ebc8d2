"""Backward: carry textual feedback from outputs to every ancestor, in one reverse topological pass.

What each node passes to its inputs is the propagator's choice (see `propagators.py`). The default gives
every ancestor the same `Feedback` record, which points at the output; an optimizer later extracts the
minimal subgraph linking each parameter to that output. Passing a reference per edge keeps backward linear
in graph size, and a minibatch of outputs shares one walk of their common subgraph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backprose.errors import GraphError
from backprose.nodes.message import Message
from backprose.nodes.node import Node
from backprose.trace.graph import as_nodes, topological_order


@dataclass(eq=False)
class Feedback:
    """What a node received: `text` for it, the judged `output`, and the user's feedback on that output.

    `example_input` is what the program was called with to make `output`, when the caller knows it (the
    trainer does): a program may pass it to a model call as a plain string, which leaves no node for it in
    the graph, yet an optimizer cannot say what to change without seeing what was asked.
    """

    text: str
    output: Node
    user_feedback: str
    sender: Node | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    example_input: Any = None
    reference: Any = None

    def __repr__(self) -> str:
        return f"Feedback({self.text[:60]!r}, output={self.output.name!r})"


class _Released(tuple):
    """The empty feedback of a message whose graph was released (so `.feedback` still reads as empty)."""


_RELEASED = _Released()


def backward(
    outputs: Node | Iterable[Node],
    feedback: str | Sequence[str] = "",
    *,
    inputs: Sequence[Any] | None = None,
    references: Sequence[Any] | None = None,
    propagator: Any = None,
    retain_graph: bool = False,
) -> None:
    """Propagate `feedback` (one text per output) to every ancestor of `outputs`.

    `inputs` (one per output) are what the program was called with; each output's feedback record carries
    its input to the optimizer (`Feedback.example_input`), whether or not the graph shows it. `references`
    (one per output, None where unknown) are replies known to earn full marks (`Feedback.reference`).

    Each node's `.feedback` gains what it received, each record once. Without `retain_graph` the
    intermediate messages drop their feedback afterwards and refuse a second backward, as in PyTorch;
    parameters and inputs keep theirs until `zero_feedback()`.
    """
    from backprose.trace.propagators import TraceGraph

    outputs = as_nodes(outputs)
    texts = [feedback] * len(outputs) if isinstance(feedback, str) else list(feedback)
    if len(texts) != len(outputs):
        raise ValueError(f"got {len(texts)} feedback texts for {len(outputs)} outputs; pass one per output")
    if inputs is not None and len(inputs) != len(outputs):
        raise ValueError(f"got {len(inputs)} inputs for {len(outputs)} outputs; pass the input each output was "
                         "made from, one per output (a list of one for a single output)")
    if references is not None and len(references) != len(outputs):
        raise ValueError(f"got {len(references)} references for {len(outputs)} outputs; pass one per output "
                         "(None where no reference reply is known)")
    propagator = propagator or TraceGraph()
    order = topological_order(outputs)
    for node in order:
        if node.feedback is _RELEASED:
            raise GraphError(f"backward reached {node.name!r} a second time after its graph was released; "
                             "pass retain_graph=True to the first backward, or backward all outputs at once "
                             "with bp.backward([out1, out2], [fb1, fb2])")
    pending: dict[int, dict[int, Feedback]] = {}
    rank = {id(out): i for i, out in enumerate(outputs)}
    for i, (out, text) in enumerate(zip(outputs, texts, strict=True)):
        if not isinstance(text, str):
            raise TypeError(f"feedback must be text, got {type(text).__name__}; format scores as str")
        record = propagator.start(out, text)
        if inputs is not None:
            record.example_input = inputs[i]
        if references is not None:
            record.reference = references[i]
        pending.setdefault(id(out), {})[id(record)] = record
    for node in reversed(order):
        bucket = pending.pop(id(node), None)
        if not bucket:
            continue
        received = list(bucket.values())
        if len(received) > 1:  # keep the outputs' order whatever order the walk met them in
            received.sort(key=lambda r: rank.get(id(r.output), 0))
        node.feedback.extend(received)
        inputs = node.inputs
        if not inputs:
            continue
        for parent, items in zip(inputs, propagator.propagate(node, received), strict=True):
            target = pending.setdefault(id(parent), {})
            for item in items:
                target[id(item)] = item
    if not retain_graph:
        for node in order:
            if isinstance(node, Message):
                node.feedback = _RELEASED  # type: ignore[assignment]


def is_released(node: Node) -> bool:
    return node.feedback is _RELEASED
