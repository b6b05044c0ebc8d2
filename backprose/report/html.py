"""`write_report(run_dir)`: one self-contained HTML file about a run (no scripts, styles or images fetched).

Score curves are inline SVG; each update is shown as a word-level diff with its verdict, and beside it the
step's other candidates, not chosen (no other record shows them); the program's graph is the `graph.svg` the
trainer drew; spending comes from the last step. Validation (and, when the run was scored on one, test) gets a
table of every example's input, output, score and feedback, before and after.
"""

from __future__ import annotations

import difflib
import html
import json
import os
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from backprose.errors import CheckpointError
from backprose.train.checkpoint import load_checkpoint
from backprose.train.events import read_events
from backprose.train.results import read_results
from backprose.train.trainer import read_config

from .svg import line_chart

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                          undefined=jinja2.StrictUndefined, autoescape=True)


def diff_html(old: Any, new: Any) -> Markup:
    """Words removed in <del>, words added in <ins>."""
    a, b = str(old).split(" "), str(new).split(" ")
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(' '.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(' '.join(b[j1:j2]))}</ins>")
        if op == "equal":
            out.append(html.escape(" ".join(a[i1:i2])))
    return Markup(" ".join(out))


def curves(history: list[dict[str, Any]], initial_val: float) -> dict[str, list[float | None]]:
    val = [initial_val] + [h["val_after"] if h["accepted"] else h["val_before"] for h in history]
    batch = [None] + [h.get("batch_before") for h in history]
    cand = [None] + [h.get("batch_after") for h in history]
    return {"validation (current program)": val, "minibatch (current)": batch, "minibatch (candidate)": cand}


CLIP = 160  # characters of a cell shown before "more"


def shown(value: Any) -> str:
    """A cell's text: strings as they are, anything else as JSON (inputs may be dicts or lists)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def split_table(data: dict[str, Any] | None, title: str) -> dict[str, Any] | None:
    """One split's section: before/after scores, counts of fixed and broken examples, and its rows."""
    if data is None:
        return None
    programs = [name for name in ("start", "final") if name in data["scores"]]
    rows, fixed, broken = [], 0, 0
    for e in data["examples"]:
        runs = {name: e[name] for name in programs if isinstance(e.get(name), dict)}
        change = ""
        if len(runs) == 2:
            a, b = runs["start"].get("score", 0), runs["final"].get("score", 0)
            change = "up" if b > a else "down" if b < a else ""
            fixed, broken = fixed + (change == "up"), broken + (change == "down")
        rows.append({"id": shown(e.get("id", "")), "input": shown(e.get("input")), "target": shown(e.get("target")),
                     "change": change, "runs": [{"name": n, "output": shown(r.get("output", "")),
                                                 "score": r.get("score"), "feedback": shown(r.get("feedback", ""))}
                                                for n, r in runs.items()]})
    return {"title": title, "scores": data["scores"], "programs": programs, "rows": rows, "fixed": fixed,
            "broken": broken, "spent": data.get("spent")}


def write_report(run_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write `report.html` in the run folder (or at `path`) and return where it went."""
    run_dir = Path(run_dir)
    ck = load_checkpoint(run_dir, action="report on")
    config = read_config(run_dir, action="report on")
    events = read_events(run_dir / "events.jsonl", action="report on")
    if ck["initial_val"] is None:
        raise CheckpointError(str(run_dir), "the run was stopped before it scored its starting program",
                              f"resume it first (`backprose resume {run_dir}`)", action="report on")
    out = Path(path) if path is not None else run_dir / "report.html"
    if not out.parent.is_dir():
        raise CheckpointError(str(out), f"the folder {out.parent} does not exist",
                              "create that folder first, or pass -o a path in an existing folder",
                              action="write the report to")
    history = ck["history"]
    end = next((e for e in reversed(events) if e["event"] == "end"), None)
    chart = line_chart(curves(history, ck["initial_val"]), title="Scores by step")
    graph = run_dir / "graph.svg"
    updates = []
    for h in history:
        changes = (h.get("update") or {}).get("changes", [])
        updates.append({"step": h["step"], "accepted": h["accepted"], "reason": h.get("reason", ""),
                        "batch_before": h.get("batch_before"), "batch_after": h.get("batch_after"),
                        "val_after": h.get("val_after"), "reasoning": (h.get("update") or {}).get("reasoning", ""),
                        "changes": [{"name": c["name"], "diff": diff_html(c["old"], c["new"]),
                                     "refused": not c["accepted"], "why": c["reason"]} for c in changes],
                        "tried": [{"ran": t["ran"], "scored": t["scored"],
                                   "changes": [{"name": c["name"], "diff": diff_html(c["old"], c["new"])}
                                               for c in t["changes"]]} for t in h.get("tried", [])]})
    page = _ENV.get_template("report.html.j2").render(
        config=config, initial_val=ck["initial_val"], final_val=ck["current_val"], steps=ck["step"],
        spent=ck["spent"], stopped=end["stopped"] if end else "interrupted (resume to finish)",
        chart=Markup(chart), graph=Markup(graph.read_text(encoding="utf-8")) if graph.exists() else None,
        updates=updates, parameters=ck["current"], accepted=sum(u["accepted"] for u in updates), clip=CLIP,
        splits=[t for t in (split_table(read_results(run_dir, "validation"), "Validation"),
                            split_table(read_results(run_dir, "test"), "Test (held out)")) if t])
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CheckpointError(str(out), exc.strerror or str(exc), "pass -o a file path you can write to",
                              action="write the report to") from None
    return out
