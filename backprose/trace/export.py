"""Graph export: a networkx view of the graph behind some outputs, and a picture of it.

`render` uses graphviz's `dot` when it is installed and otherwise draws a self-contained SVG (or HTML, or
a Mermaid file) itself, so a picture never fails for lack of a system package.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from backprose.nodes.node import Node, short
from backprose.trace.graph import labels, topological_order

_COLORS = {"parameter": "#ffe6a7", "message": "#dbe9ff", "node": "#eeeeee", "error": "#ffc9c9"}


def to_networkx(outputs: Node | Iterable[Node]) -> nx.DiGraph:
    """A DiGraph keyed by unique labels; node attributes describe each node, edges mark control deps."""
    order = topological_order(outputs)
    names = labels(order)
    graph = nx.DiGraph()
    for node in order:
        op = getattr(node, "op", None)
        graph.add_node(
            names[node], kind=node.kind, name=node.name, value=short(node._value),
            description=node.description, op_doc=op.doc if op else "", scope=node.scope,
            trainable=bool(getattr(node, "trainable", False)),
        )
    for node in order:
        for parent in node.parents:
            graph.add_edge(names[parent], names[node], control=False)
        for parent in node.control:
            if not graph.has_edge(names[parent], names[node]):
                graph.add_edge(names[parent], names[node], control=True)
    return graph


def to_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph backprose {", "  rankdir=TB; node [shape=box, style=\"rounded,filled\", fontname=Helvetica];"]
    ids = {name: f"n{i}" for i, name in enumerate(graph.nodes)}
    for name, data in graph.nodes(data=True):
        label = f"{name}\\n{data['value']}".replace('"', '\\"')
        lines.append(f'  {ids[name]} [label="{label}", fillcolor="{_COLORS.get(data["kind"], "#fff")}"];')
    for a, b, data in graph.edges(data=True):
        style = ' [style=dashed, label="control"]' if data["control"] else ""
        lines.append(f"  {ids[a]} -> {ids[b]}{style};")
    lines.append("}")
    return "\n".join(lines)


def to_mermaid(graph: nx.DiGraph) -> str:
    ids = {name: f"n{i}" for i, name in enumerate(graph.nodes)}
    lines = ["flowchart TB"]
    for name, data in graph.nodes(data=True):
        text = f"{name}: {data['value']}".replace('"', "'")
        lines.append(f'  {ids[name]}["{text}"]')
    for a, b, data in graph.edges(data=True):
        lines.append(f"  {ids[a]} {'-.->|control|' if data['control'] else '-->'} {ids[b]}")
    return "\n".join(lines) + "\n"


def to_svg(graph: nx.DiGraph) -> str:
    """A layered drawing: one row per topological generation, edges as straight lines."""
    rows = list(nx.topological_generations(graph))
    box_w, box_h, gap_x, gap_y = 190, 44, 24, 56
    width = max((len(r) for r in rows), default=1) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    pos: dict[str, tuple[float, float]] = {}
    for y, row in enumerate(rows):
        offset = (width - len(row) * (box_w + gap_x) + gap_x) / 2
        for x, name in enumerate(sorted(row, key=list(graph.nodes).index)):
            pos[name] = (offset + x * (box_w + gap_x), gap_y / 2 + y * (box_h + gap_y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for a, b, data in graph.edges(data=True):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        dash = ' stroke-dasharray="5,4"' if data["control"] else ""
        out.append(f'<line x1="{x1 + box_w / 2:.0f}" y1="{y1 + box_h:.0f}" x2="{x2 + box_w / 2:.0f}" '
                   f'y2="{y2:.0f}" stroke="#555"{dash} marker-end="url(#arrow)"/>')
    for name, data in graph.nodes(data=True):
        x, y = pos[name]
        fill = _COLORS.get(data["kind"], "#fff")
        title = html.escape(f"{name} ({data['kind']})\n{data['value']}\n{data['description']}")
        out.append(f'<g><title>{title}</title><rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" '
                   f'rx="8" fill="{fill}" stroke="#666"/>'
                   f'<text x="{x + 8:.0f}" y="{y + 17:.0f}" font-weight="bold">{html.escape(name[:28])}</text>'
                   f'<text x="{x + 8:.0f}" y="{y + 34:.0f}">{html.escape(data["value"][:30])}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def render(outputs: Node | Iterable[Node], path: str | os.PathLike) -> Path:
    """Write a picture of the graph: `.svg` (via `dot` if present), `.html`, `.mmd` or `.dot` by suffix."""
    path = Path(path)
    graph = to_networkx(outputs)
    suffix = path.suffix.lower()
    if suffix == ".dot":
        path.write_text(to_dot(graph), encoding="utf-8")
    elif suffix == ".mmd":
        path.write_text(to_mermaid(graph), encoding="utf-8")
    elif suffix == ".html":
        body = to_svg(graph)
        path.write_text(f"<!doctype html><meta charset='utf-8'><title>backprose graph</title>{body}\n",
                        encoding="utf-8")
    elif suffix == ".svg":
        dot = shutil.which("dot")
        svg = None
        if dot:
            done = subprocess.run([dot, "-Tsvg"], input=to_dot(graph), capture_output=True, text=True,
                                  timeout=60, check=False)
            svg = done.stdout if done.returncode == 0 else None
        path.write_text(svg or to_svg(graph), encoding="utf-8")
    else:
        raise ValueError(f"cannot render to {path.name!r}: use a .svg, .html, .mmd or .dot file name")
    return path
