"""Walking the graph behind some outputs: topological order, minimal subgraphs and unique labels.

Every walk is iterative and visits each node and edge once (O(V+E)), so a 100k-node chain neither hits the
recursion limit nor slows down per node. Order is deterministic: parents in the order the op received them.
"""

from __future__ import annotations

from collections.abc import Iterable

from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter


def as_nodes(outputs: Node | Iterable[Node]) -> list[Node]:
    if isinstance(outputs, Node):
        return [outputs]
    nodes = list(outputs)
    bad = [o for o in nodes if not isinstance(o, Node)]
    if bad:
        raise TypeError(f"expected nodes, got {type(bad[0]).__name__}; pass the outputs of traced calls")
    return nodes


def topological_order(outputs: Node | Iterable[Node]) -> list[Node]:
    """Every ancestor of `outputs` (data and control edges), each once, parents before children."""
    order: list[Node] = []
    visited: set[int] = set()
    for out in as_nodes(outputs):
        if id(out) in visited:
            continue
        visited.add(id(out))
        stack = [(out, iter(out.inputs))]
        while stack:
            node, pending = stack[-1]
            for parent in pending:
                if id(parent) not in visited:
                    visited.add(id(parent))
                    stack.append((parent, iter(parent.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def parameters_of(outputs: Node | Iterable[Node], trainable_only: bool = True) -> list[Parameter]:
    """The parameters the outputs depend on, in topological order."""
    return [n for n in topological_order(outputs)
            if isinstance(n, Parameter) and (n.trainable or not trainable_only)]


def minimal_subgraph(parameters: Iterable[Node], outputs: Node | Iterable[Node]) -> list[Node]:
    """Nodes on some path from a parameter to an output, in topological order: the "trace as gradient"."""
    order = topological_order(outputs)
    sources = {id(p) for p in parameters}
    on_path: set[int] = set()
    result = []
    for node in order:
        if id(node) in sources or any(id(p) in on_path for p in node.inputs):
            on_path.add(id(node))
            result.append(node)
    return result


def labels(nodes: Iterable[Node]) -> dict[Node, str]:
    """Unique, deterministic labels: a node's name, with `:k` added where names repeat (k from 0)."""
    nodes = list(nodes)
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.name] = counts.get(node.name, 0) + 1
    seen: dict[str, int] = {}
    out: dict[Node, str] = {}
    taken = {n.name for n in nodes if counts[n.name] == 1}
    for node in nodes:
        if counts[node.name] == 1:
            out[node] = node.name
            continue
        k = seen.get(node.name, 0)
        label = f"{node.name}:{k}"
        while label in taken:
            k += 1
            label = f"{node.name}:{k}"
        seen[node.name] = k + 1
        taken.add(label)
        out[node] = label
    return out


def shape(outputs: Node | Iterable[Node]) -> list[tuple]:
    """The graph behind `outputs` as plain data, to compare two runs: for each node in topological order, its
    label, kind, op, value (repr), and the labels of its data and control parents."""
    order = topological_order(outputs)
    names = labels(order)
    return [(names[n], n.kind, getattr(getattr(n, "op", None), "name", None), repr(n._value),
             tuple(names[p] for p in n.parents), tuple(names[c] for c in n.control)) for n in order]
