"""Reducing many feedback records to one text within a size limit, worst examples first.

A node that feeds many successors, or a parameter shared by a minibatch, receives one record per path and
example. Concatenating them grows without bound; here they are grouped per example (the judged output),
sorted by score (lowest first, unscored first of all), well-scored examples are skipped with a count, and
what does not fit is summarized in one line, never silently dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_SCORE = re.compile(r"\bscore\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
MIN_GROUP_CHARS = 240


def default_score(text: str) -> float | None:
    """The number after 'score:' or 'score=' in a feedback text, if any."""
    match = _SCORE.search(text)
    return float(match.group(1)) if match else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 16, 0)] + " ...[cut]"


def reduce_feedback(records: Sequence[Any], limit_chars: int, skip_above: float | None = None) -> str:
    """One text of at most `limit_chars` characters from feedback records (see the module docstring)."""
    groups: dict[int, dict[str, Any]] = {}
    for record in records:
        group = groups.setdefault(id(record.output), {"score": None, "texts": []})
        score = record.extra.get("score")
        if score is not None:
            group["score"] = score if group["score"] is None else min(group["score"], score)
        if record.text and record.text not in group["texts"]:
            group["texts"].append(record.text)
    ordered = sorted(groups.values(), key=lambda g: -math.inf if g["score"] is None else g["score"])
    if len(ordered) == 1:
        return _cut("\n".join(ordered[0]["texts"]), limit_chars)
    skipped = [g for g in ordered if skip_above is not None and g["score"] is not None and g["score"] >= skip_above]
    shown_groups = [g for g in ordered if not any(g is s for s in skipped)]
    tail = []
    if skipped:
        tail.append(f"({len(skipped)} examples scored {skip_above} or better and are not shown.)")
    room = limit_chars - sum(len(t) + 1 for t in tail) - 80
    share = max(room // max(len(shown_groups), 1), MIN_GROUP_CHARS)
    lines: list[str] = []
    used = 0
    shown = 0
    for k, group in enumerate(shown_groups, 1):
        head = f"Example {k}" + (f" (score {group['score']:g})" if group["score"] is not None else "") + ":"
        body = _cut("\n".join(group["texts"]), max(min(share, room - used) - len(head) - 1, 0))
        if used + len(head) + len(body) + 2 > room or not body:
            break
        lines.append(f"{head}\n{body}")
        used += len(head) + len(body) + 2
        shown += 1
    rest = shown_groups[shown:]
    if rest:
        scores = [g["score"] for g in rest if g["score"] is not None]
        span = f" (scores {min(scores):g} to {max(scores):g})" if scores else ""
        lines.append(f"({len(rest)} more examples with feedback are not shown{span}.)")
    return _cut("\n".join(lines + tail), limit_chars)
