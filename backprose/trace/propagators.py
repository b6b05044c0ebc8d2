"""Propagators decide what feedback each node passes to its inputs during backward.

The protocol is two methods:
- `start(output, text) -> Feedback`: the record that enters the graph at a judged output;
- `propagate(node, received) -> list[list[Feedback]]`: for each of `node.inputs` (data parents, then
  control parents), the feedback records it should receive.

`TraceGraph` (the default) passes the output's record unchanged to every ancestor: the gradient is the
execution trace itself, which the optimizer reads as the minimal subgraph between a parameter and the
output. Propagators that write new text per edge (TextGrad) or per layer plug in through the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from backprose.nodes.node import Node
from backprose.trace.backward import Feedback


class Propagator(Protocol):
    def start(self, output: Node, text: str) -> Feedback: ...

    def propagate(self, node: Node, received: list[Feedback]) -> list[list[Feedback]]: ...


class TraceGraph:
    """Every ancestor receives the output's own feedback record; O(1) work per edge."""

    def start(self, output: Node, text: str) -> Feedback:
        return Feedback(text=text, output=output, user_feedback=text)

    def propagate(self, node: Node, received: list[Feedback]) -> list[list[Feedback]]:
        return [received] * len(node.inputs)
