"""The OptoPrime problem: a minimal subgraph rendered as pseudo-code, bounded by a token budget.

Every section is a list of lines whose size is known before rendering, so fitting the budget is a matter of
choosing lines, not of re-rendering. When the full problem does not fit, it shrinks in this order, and each
choice is noted in the prompt so the model knows what it does not see:
1. the oldest memory entries go; 2. runs of the same op collapse to their first and last call;
3. long values are truncated, harder and harder; 4. intermediate nodes farthest from the variables go;
5. as a last resort the variables, feedback and outputs are cut to their share of what is left.
What each example asked (`Feedback.example_input`) is listed under #Inputs when no input node shows it,
cut like the other inputs (keeping its start and end).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprose.nodes.message import Message
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.trace.graph import labels, minimal_subgraph

VALUE_CAPS = (2000, 500, 200, 80)
MIN_RUN = 3  # runs of at least this many calls of one op collapse


def show(value: Any, cap: int | None) -> str:
    """A value as the model reads it, cut to `cap` characters with the cut marked."""
    if isinstance(value, np.ndarray):
        text = repr(value.tolist())
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value)
    if cap is not None and len(text) > cap:
        keep = max(cap - 24, 8)
        text = f"{text[:keep]}...[+{len(text) - keep} chars]"
    return text


CUT_NOTE = "[unfinished: this model reply stopped at its token limit]"


def show_node(node: Node, cap: int | None) -> str:
    """`show` of a node's value, marked when it is a model reply cut at its token limit. An optimizer that
    reads a cut reply as the model's whole answer blames the prompt for what the limit did; told it was cut,
    it can ask for a shorter reply instead."""
    text = show(node._value, cap)
    return f"{text} {CUT_NOTE}" if getattr(node, "truncated", False) else text


def show_ends(value: Any, cap: int) -> str:
    """Like `show`, but a cut keeps the start and the end, where a worked reply puts its result."""
    text = show(value, None)
    if len(text) <= cap:
        return text
    head = max(cap // 3, 8)
    tail = max(cap - head - 24, 8)
    return f"{text[:head]}...[{len(text) - head - tail} chars cut]...{text[-tail:]}"


def input_text(value: Any) -> str:
    """An example's input as the model reads it, whatever the program does with it: a text as it is, a node
    as its value, a dict as one `field: value` line per field, a tuple or list as one line per item."""
    if isinstance(value, Node):
        value = value.value
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(f"{key}: {input_text(item)}" for key, item in value.items())
    if isinstance(value, (tuple, list)) and value:
        return "\n".join(input_text(item) for item in value)
    return show(value, None)


def example_input(records: Iterable[Any], shown: Iterable[str] = ()) -> str:
    """The input of the example behind feedback `records` (the first one that carries it), or "" when none
    does or when one of the `shown` texts already holds it (the graph shows it as an input node)."""
    for record in records:
        value = getattr(record, "example_input", None)
        if value is None:
            continue
        text = input_text(value)
        core = text.strip()
        return "" if not core or any(core in other for other in shown) else text
    return ""


@dataclass
class Entry:
    """One node's lines in the problem; `distance` (edges from the nearest variable) orders the dropping."""

    node: Node
    label: str
    distance: int
    code: str = ""
    role: str = ""  # "variable", "input", "other", "output"
    order: int = 0


@dataclass
class Problem:
    """The sections of an OptoPrime prompt, ready for the template."""

    code: list[str] = field(default_factory=list)
    documentation: list[str] = field(default_factory=list)
    variables: list[dict[str, str]] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def size(self) -> int:
        """Characters the sections take once rendered (one line each, plus a newline)."""
        total = 0
        for name in ("code", "documentation", "constraints", "inputs", "others", "outputs", "feedback",
                     "memory", "notes"):
            total += sum(len(line) + 1 for line in getattr(self, name))
        total += sum(sum(len(v) + 1 for v in var.values()) + 8 for var in self.variables)
        return total

    def as_vars(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _distances(params: Sequence[Node], nodes: Sequence[Node]) -> dict[int, int]:
    """Edges from the nearest parameter, forward through the subgraph (multi-source BFS)."""
    in_graph = {id(n) for n in nodes}
    children: dict[int, list[Node]] = {}
    for node in nodes:
        for parent in node.inputs:
            if id(parent) in in_graph:
                children.setdefault(id(parent), []).append(node)
    dist = {id(p): 0 for p in params if id(p) in in_graph}
    queue = deque(p for p in params if id(p) in in_graph)
    while queue:
        node = queue.popleft()
        for child in children.get(id(node), ()):
            if id(child) not in dist:
                dist[id(child)] = dist[id(node)] + 1
                queue.append(child)
    return dist


class Layout:
    """Everything about a step that does not depend on the budget: nodes, labels, distances, roles."""

    def __init__(self, params: Sequence[Parameter], outputs: Sequence[Node],
                 feedback: Sequence[tuple[Node, str]], asked: Sequence[tuple[Node, Sequence[Any]]] = ()) -> None:
        self.params = list(params)
        self.outputs = list(outputs)
        self.feedback = list(feedback)
        sub = minimal_subgraph(self.params, self.outputs)
        in_sub = {id(n) for n in sub}
        extra: list[Node] = []  # inputs of the subgraph that are not on a path from a variable
        seen: set[int] = set()
        for node in sub:
            for parent in node.inputs:
                if id(parent) not in in_sub and id(parent) not in seen:
                    seen.add(id(parent))
                    extra.append(parent)
        for out in self.outputs:  # an output no variable reaches still shows, with its feedback
            if id(out) not in in_sub and id(out) not in seen:
                seen.add(id(out))
                extra.append(out)
        self.labels = labels([*extra, *sub])
        dist = _distances(self.params, sub)
        far = max(dist.values(), default=0) + 1
        for node in sub:  # an input sits one step before the nearest node that reads it
            d = dist.get(id(node), far) + 1
            for parent in node.inputs:
                if id(parent) not in in_sub and d < dist.get(id(parent), far + 1):
                    dist[id(parent)] = d
        out_ids = {id(o) for o in self.outputs}
        param_ids = {id(p) for p in self.params}
        self.entries: list[Entry] = []
        for i, node in enumerate([*extra, *sub]):
            d = dist.get(id(node), far + 1)
            role = ("variable" if id(node) in param_ids else "output" if id(node) in out_ids
                    else "other" if isinstance(node, Message) and id(node) in in_sub else "input")
            self.entries.append(Entry(node, self.labels[node], d, self._code(node), role, i))
        # what each example asked (see `Feedback.example_input`), unless an input node already shows it
        shown = [show(e.node._value, None) for e in self.entries if e.role == "input"]
        self.asked = [(out, text) for out, records in asked if (text := example_input(records, shown))]
        self.ops: dict[str, str] = {}
        for node in sub:
            if isinstance(node, Message) and node.op.name not in self.ops:
                self.ops[node.op.name] = node.op.doc

    def _code(self, node: Node) -> str:
        if not isinstance(node, Message) or not node.parents and not node.control:
            return ""
        args = ", ".join(self.labels.get(p, p.name) for p in node.parents)
        line = f"{self.labels[node]} = {node.op.name}({args})"
        if node.control:
            line += "  # runs because of " + ", ".join(self.labels.get(c, c.name) for c in node.control)
        return line


def _variable(entry: Entry, cap: int | None) -> dict[str, str]:
    p = entry.node
    assert isinstance(p, Parameter)
    kind = p.value_type
    if kind == "number" and p.bounds:
        kind += f" in [{p.bounds[0]}, {p.bounds[1]}]"
    if kind == "array":
        kind += f" of shape {list(p._value.shape)} and dtype {p._value.dtype}"
    if kind == "code":
        kind += f": keep `def {getattr(p, 'func_name', '')}({getattr(p, 'signature_text', '')})`"
    return {"name": entry.label, "type": kind, "description": p.description or "",
            "value": show(p._value, cap)}


def build(layout: Layout, *, value_cap: int | None, collapse: bool, keep: set[int] | None,
          memory: Sequence[str], last_cap: int | None = None) -> Problem:
    """The problem under one set of shrinking choices; `keep` limits intermediate nodes (by id)."""
    pb = Problem(memory=list(memory))
    shown_code = [e for e in layout.entries if e.code and (keep is None or id(e.node) in keep or
                                                           e.role in ("variable", "output"))]
    collapsed: set[int] = set()
    if collapse:
        run: list[Entry] = []
        for e in [*shown_code, None]:
            if e is not None and run and e.node.op.name == run[0].node.op.name:  # type: ignore[attr-defined]
                run.append(e)
                continue
            if len(run) >= MIN_RUN:
                collapsed.update(id(x.node) for x in run[1:-1] if x.role == "other")
            run = [e] if e is not None else []
    dropped = 0
    for e in layout.entries:
        hidden = keep is not None and id(e.node) not in keep and e.role in ("other", "input")
        if hidden:
            dropped += 1
            continue
        if e.code and id(e.node) in collapsed:
            continue
        if e.role == "variable":
            pb.variables.append(_variable(e, last_cap))
            if e.node.constraint:  # type: ignore[attr-defined]
                pb.constraints.append(f"{e.label}: {e.node.constraint}")  # type: ignore[attr-defined]
        elif e.role == "input":
            pb.inputs.append(f"{e.label} = {show(e.node._value, value_cap)}")
        elif e.role == "other":
            pb.others.append(f"{e.label} = {show_node(e.node, value_cap)}")
        elif e.role == "output":
            pb.outputs.append(f"{e.label} = {show_node(e.node, last_cap)}")
        if e.code:
            pb.code.append(e.code)
    cap = min(value_cap or 10**9, last_cap or 10**9)
    pb.inputs += [f"example input of {layout.labels.get(out, out.name)} = {show_ends(text, cap)}"
                  for out, text in layout.asked]
    if collapsed:
        pb.code = _collapse_lines(layout, pb.code, collapsed)
        pb.notes.append(f"{len(collapsed)} repeated calls of the same op are collapsed in #Code to the first "
                        "and last of each run; their values are not shown.")
    shown_ops = {line.split(" = ", 1)[1].split("(", 1)[0] for line in pb.code if " = " in line}
    pb.documentation = [f"[{op}] {show(doc, value_cap)}" for op, doc in layout.ops.items()
                        if op in shown_ops and doc]
    labels = layout.labels
    pb.feedback = [f"{labels.get(out, out.name)}: {show(text, last_cap)}" for out, text in layout.feedback]
    if value_cap is not None:
        pb.notes.append(f"Values of inputs and intermediate nodes longer than {value_cap} characters are "
                        "truncated where marked '...[+N chars]'.")
    if dropped:
        pb.notes.append(f"{dropped} inputs and intermediate nodes farthest from the variables are omitted; "
                        "names in #Code that are not defined here refer to them.")
    if last_cap is not None:
        pb.notes.append(f"Even variables, outputs and feedback are cut to {last_cap} characters; when a "
                        "variable is cut, suggest a complete new value, not a continuation.")
    return pb


def _collapse_lines(layout: Layout, code: list[str], collapsed: set[int]) -> list[str]:
    """The shown code lines, with one comment where each collapsed run was."""
    shown = set(code)
    result: list[str] = []
    gap, op = 0, ""
    for e in layout.entries:
        if not e.code:
            continue
        if id(e.node) in collapsed:
            gap, op = gap + 1, e.node.op.name  # type: ignore[attr-defined]
            continue
        if e.code in shown:
            if gap:
                result.append(f"# ... {gap} more calls of {op} collapsed ...")
                gap = 0
            result.append(e.code)
    return result


def fit(layout: Layout, limit_chars: int, memory: Sequence[str] = ()) -> Problem:
    """The most complete problem whose sections take at most `limit_chars` characters."""
    memory = list(memory)
    pb = build(layout, value_cap=None, collapse=False, keep=None, memory=memory)
    while pb.size() > limit_chars and memory:
        memory.pop(0)
        pb = build(layout, value_cap=None, collapse=False, keep=None, memory=memory)
    if pb.size() <= limit_chars:
        return pb
    for cap in VALUE_CAPS:
        for collapse in (False, True):
            pb = build(layout, value_cap=cap, collapse=collapse, keep=None, memory=memory)
            if pb.size() <= limit_chars:
                return pb
    cap = VALUE_CAPS[-1]
    droppable = sorted((e for e in layout.entries if e.role in ("other", "input")),
                       key=lambda e: (e.distance, -e.order))
    everything = {id(e.node) for e in layout.entries}
    lo, hi = 0, len(droppable)  # binary search for the most nodes that fit (keeping the nearest)
    best: Problem | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        keep = {id(e.node) for e in droppable[:mid]} | (everything - {id(e.node) for e in droppable})
        pb = build(layout, value_cap=cap, collapse=True, keep=keep, memory=memory)
        if pb.size() <= limit_chars:
            best, lo = pb, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return best
    keep = everything - {id(e.node) for e in droppable}
    for last_cap in (4000, 1000, 300, 100, 40):
        pb = build(layout, value_cap=cap, collapse=True, keep=keep, memory=(), last_cap=last_cap)
        if pb.size() <= limit_chars:
            return pb
    return pb
