"""Reducing many feedback records to one text within a size limit, worst examples first.

A node that feeds many successors, or a parameter shared by a minibatch, receives one record per path and
example. Concatenating them grows without bound; here they are grouped per example (the judged output),
sorted by score (lowest first, unscored first of all), well-scored examples are skipped with a count, and
what does not fit is summarized in one line, never silently dropped. Each example's feedback follows what
it asked, when the records carry it (the trainer passes it), cut to at most half of the example's share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from backprose.optimizers.problem import example_input, show_ends

_SCORE = re.compile(r"\bscore\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
MIN_GROUP_CHARS = 240


def default_score(text: str) -> float | None:
    """The number after 'score:' or 'score=' in a feedback text, if any."""
    match = _SCORE.search(text)
    return float(match.group(1)) if match else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 16, 0)] + " ...[cut]"


def _body(group: dict[str, Any], limit: int) -> str:
    """A group's feedback within `limit` characters, after what its example asked (at most half of them,
    keeping its start and end) when that is known."""
    texts = "\n".join(group["texts"])
    if not group["input"] or limit <= 0:
        return _cut(texts, limit)
    asked = "Input: " + show_ends(group["input"], max(limit // 2 - 8, 40)) + "\n"
    return asked + _cut(texts, max(limit - len(asked), 0))


def reduce_feedback(records: Sequence[Any], limit_chars: int, skip_above: float | None = None, *,
                    inputs: bool = True, shown: Sequence[str] = ()) -> str:
    """One text of at most `limit_chars` characters from feedback records (see the module docstring).

    With `inputs`, each example's feedback follows what it asked (`Feedback.example_input`), unless one of
    the `shown` texts (the prompt's other inputs) already holds it."""
    groups: dict[int, dict[str, Any]] = {}
    for record in records:
        group = groups.setdefault(id(record.output), {"score": None, "texts": [], "input": ""})
        if inputs and not group["input"]:
            group["input"] = example_input([record], shown)
        score = record.extra.get("score")
        if score is not None:
            group["score"] = score if group["score"] is None else min(group["score"], score)
        if record.text and record.text not in group["texts"]:
            group["texts"].append(record.text)
    ordered = sorted(groups.values(), key=lambda g: -math.inf if g["score"] is None else g["score"])
    if len(ordered) == 1:
        return _cut(_body(ordered[0], limit_chars), limit_chars)
    skipped = [g for g in ordered if skip_above is not None and g["score"] is not None and g["score"] >= skip_above]
    shown_groups = [g for g in ordered if not any(g is s for s in skipped)]
    tail = []
    if skipped:
        tail.append(f"({len(skipped)} examples scored {skip_above} or better and are not shown.)")
    room = limit_chars - sum(len(t) + 1 for t in tail) - 80
    share = max(room // max(len(shown_groups), 1), MIN_GROUP_CHARS)
    lines: list[str] = []
    used = 0
    fitted = 0
    for k, group in enumerate(shown_groups, 1):
        head = f"Example {k}" + (f" (score {group['score']:g})" if group["score"] is not None else "") + ":"
        body = _body(group, max(min(share, room - used) - len(head) - 2, 0))  # the 2 newlines counted below
        if used + len(head) + len(body) + 2 > room or not body:
            break
        lines.append(f"{head}\n{body}")
        used += len(head) + len(body) + 2
        fitted += 1
    rest = shown_groups[fitted:]
    if rest:
        scores = [g["score"] for g in rest if g["score"] is not None]
        span = f" (scores {min(scores):g} to {max(scores):g})" if scores else ""
        lines.append(f"({len(rest)} more examples with feedback are not shown{span}.)")
    return _cut("\n".join(lines + tail), limit_chars)
