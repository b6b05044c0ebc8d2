"""The suite's table, built from one results file only: accuracy with 95% bootstrap intervals, and calls.

The interval resamples both sources of chance in a row: the seeds (each seed is its own split and its
own training run) and, within each drawn seed, its test items. With one seed it is the plain bootstrap
over test items. The mean is the mean of the per-seed accuracies. The resampling is seeded, so the
same file always prints the same table. Beside the rows, the table says only what the intervals support:
which pairs of systems on a task have intervals that do not overlap, and that all other pairs overlap;
and, since every system is scored on the same test items, backprose's paired difference with each
system (the bootstrap of the per-item differences), which tells apart two systems whose separate
intervals overlap only because the items differ in difficulty.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RESAMPLES = 10_000


def bootstrap_interval(per_seed: Sequence[Sequence[float]], *, level: float = 0.95, resamples: int = RESAMPLES,
                       seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-seed mean scores and its percentile bootstrap interval, drawing
    seeds with replacement and then each drawn seed's items with replacement."""
    groups = [np.asarray(g, dtype=float) for g in per_seed if len(g)]
    if not groups:
        raise ValueError("no scores to summarize")
    rng = np.random.default_rng(seed)
    count = len(groups)
    picked = rng.integers(0, count, (resamples, count)) if count > 1 else np.zeros((resamples, 1), int)
    draws = np.zeros(resamples)
    for position in range(picked.shape[1]):
        # every seed's items drawn afresh for each position, so a seed drawn twice counts as two samples
        item_means = np.stack([g[rng.integers(0, len(g), (resamples, len(g)))].mean(axis=1) for g in groups])
        draws += item_means[picked[:, position], np.arange(resamples)]
    draws /= picked.shape[1]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(np.mean([g.mean() for g in groups])), float(low), float(high)


@dataclass
class Row:
    task: str
    system: str
    seeds: list[int]
    mean: float
    low: float
    high: float
    validation: float
    program_calls: float  # mean over the row's cells, cache hits included
    optimizer_calls: float
    cache_hits: float
    over_budget: bool
    failed: int
    sent: dict[str, list[Any]]  # distinct temperatures the system's clients sent, by role (None: sent none)
    per_seed: list[float] = field(default_factory=list)  # test accuracy of each seed, in seed order


def read_results(path: Path) -> list[dict[str, Any]]:
    """The cells of a results file; for a cell written more than once (a failure, then a rerun) the last."""
    cells: dict[tuple[str, int, str], dict[str, Any]] = {}
    if not path.exists():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            cell = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill; its cell runs again
        cells[(cell["task"], cell["seed"], cell["system"])] = cell
    return list(cells.values())


def rows(cells: Sequence[dict[str, Any]]) -> list[Row]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        groups[(cell["task"], cell["system"])].append(cell)
    out = []
    for (task, system), group in groups.items():
        done = sorted((c for c in group if c["status"] == "done"), key=lambda c: c["seed"])
        if not done:
            out.append(Row(task, system, [], float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, 0,
                           False, len(group), {}))
            continue
        mean, low, high = bootstrap_interval([[i["score"] for i in c["test"]] for c in done])

        def used(role: str, what: str = "calls", cells: list[dict[str, Any]] = done) -> float:
            return float(np.mean([c["fit"].get(role, {}).get(what, 0) for c in cells]))

        out.append(Row(task, system, [c["seed"] for c in done], mean, low, high,
                       float(np.mean([c["validation_accuracy"] for c in done])), used("program"), used("optimizer"),
                       used("program", "cache_hits") + used("optimizer", "cache_hits"),
                       any(c["over_budget"] for c in done), len(group) - len(done), sent(done),
                       [float(np.mean([i["score"] for i in c["test"]])) for c in done]))
    return out


def sent(cells: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for cell in cells:
        for role, counts in cell["fit"].items():
            for t in counts.get("temperatures_sent", []):
                if t not in out.setdefault(role, []):
                    out[role].append(t)
    return out


def _temps(values: list[Any] | None) -> str:
    return "-" if not values else "/".join("none" if v is None else f"{v:g}" for v in values)


def overlaps(task_rows: Sequence[Row]) -> str:
    """Which intervals on one task lie wholly above another's; every other pair overlaps."""
    scored = [r for r in task_rows if r.seeds]
    apart = [f"{a.system} above {b.system}" for a in scored for b in scored if a.low > b.high]
    if len(scored) < 2:
        return ""
    if not apart:
        return "all intervals overlap"
    return "intervals apart: " + ", ".join(apart) + "; all other pairs overlap"


def scored_sizes(cells: Sequence[dict[str, Any]]) -> dict[str, int | list[int]]:
    """The number of test items each task's cells were scored on: what the test split held, which a grouped
    split can make differ from the size asked for. Cells of one task that disagree show every size."""
    sizes: dict[str, list[int]] = {}
    for cell in cells:
        if cell.get("status") == "done" and "test" in cell:
            found = sizes.setdefault(cell["task"], [])
            if len(cell["test"]) not in found:
                found.append(len(cell["test"]))
    return {task: n[0] if len(n) == 1 else sorted(n) for task, n in sizes.items()}


def paired(cells: Sequence[dict[str, Any]], task: str, a: str, b: str) -> tuple[float, float, float] | None:
    """(mean, low, high) of system `a`'s score minus `b`'s on the same test items of `task` (matched by
    example id within each seed both scored), with the bootstrap of `bootstrap_interval`: seeds, then items.
    Pairing removes the items' own difficulty from the comparison, so it separates two systems that the
    two separate intervals cannot. None when the two share no scored seed."""
    scored = {(c["system"], c["seed"]): {i.get("id", n): i["score"] for n, i in enumerate(c["test"])} for c in cells
              if c["task"] == task and c["status"] == "done" and c["system"] in (a, b)}
    diffs = []
    for seed in sorted({s for name, s in scored if name == a} & {s for name, s in scored if name == b}):
        mine, theirs = scored[(a, seed)], scored[(b, seed)]
        diffs.append([mine[k] - theirs[k] for k in mine if k in theirs])
    return bootstrap_interval(diffs) if any(diffs) else None


def paired_lines(cells: Sequence[dict[str, Any]], task: str, ours: str, others: Sequence[str]) -> list[str]:
    """One line per other system: `ours` minus it on the same test items, and whether the interval
    lies above zero, below it, or holds it."""
    lines = []
    for other in others:
        found = paired(cells, task, ours, other)
        if found is None:
            continue
        mean, low, high = found
        verdict = "above" if low > 0 else "below" if high < 0 else "not apart from"
        lines.append(f"- {task}: {ours} minus {other} on the same test items: {mean:+.3f} [{low:+.3f}, {high:+.3f}] "
                     f"({ours} {verdict} {other})")
    return lines


def table(cells: Sequence[dict[str, Any]], config: dict[str, Any], *, ours: str = "backprose") -> str:
    """The Markdown table with its header: command, commit, budgets, temperatures and date."""
    commits = sorted({c.get("commit", "unknown") for c in cells})
    budgets = config.get("budgets", {})
    temps = config.get("temperatures", {})
    lines = [
        f"Command: `{config.get('command', '?')}`",
        f"Commit: {', '.join(commits) if commits else config.get('commit', 'unknown')}"
        + (" (cells from more than one code version)" if len(commits) > 1 else ""),
        f"Date: {config.get('date', '?')}; models: program `{config.get('program_model')}`, optimizer "
        f"`{config.get('optimizer_model')}`",
        f"Budgets per training run: {budgets.get('program_calls')} program calls, {budgets.get('optimizer_calls')} "
        f"optimizer calls; test items scored per seed: {scored_sizes(cells) or config.get('test_sizes')}",
        f"Temperatures (pinned by the proxy): program {temps.get('program')}, optimizer {temps.get('optimizer')}",
        "",
        "Test accuracy is the mean over seeds; the interval is a 95% bootstrap over seeds and test items. Calls are "
        "per training run (mean over seeds; cache hits included, shown apart); scoring on test is outside both "
        "budgets. ⚠ marks a run that exceeded a budget. \"none\" under temperature sent: the client sent no "
        "temperature (the server's default would have applied; the proxy pinned it).",
        "",
        "| task | system | seeds | test accuracy | 95% interval | per seed | validation | program calls "
        "| optimizer calls | cache hits | temperature sent (program; optimizer) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    found = rows(cells)
    notes: list[str] = []
    pairs: list[str] = []
    for task in dict.fromkeys(r.task for r in found):
        task_rows = [r for r in found if r.task == task]
        for r in task_rows:
            fails = f" ({r.failed} failed)" if r.failed else ""
            if not r.seeds:
                lines.append(f"| {task} | {r.system} | 0{fails} | failed | | | | | | | |")
                continue
            mark = " ⚠" if r.over_budget else ""
            lines.append(f"| {task} | {r.system}{mark} | {len(r.seeds)}{fails} | {r.mean:.3f} | "
                         f"[{r.low:.3f}, {r.high:.3f}] | {' / '.join(f'{x:.2f}' for x in r.per_seed)} | "
                         f"{r.validation:.3f} | {r.program_calls:.0f} | "
                         f"{r.optimizer_calls:.0f} | {r.cache_hits:.0f} | "
                         f"{_temps(r.sent.get('program'))}; {_temps(r.sent.get('optimizer'))} |")
        note = overlaps(task_rows)
        if note:
            notes.append(f"- {task}: {note}.")
        if any(r.system == ours and r.seeds for r in task_rows):
            pairs += paired_lines(cells, task, ours, [r.system for r in task_rows if r.system != ours and r.seeds])
    pairs = ["", f"Paired differences ({ours} minus each system, same test items, 95% bootstrap over seeds and "
             "items):", *pairs] if pairs else []
    return "\n".join(lines + ([""] + notes if notes else []) + pairs)
