"""BIG-bench tasks read from their `task.json`, and each task's own metric as a backprose guide.

Multiple-choice tasks (`target_scores`) become a question followed by lettered options; the options are put
in an order drawn from the example's own key, because the files often list the right option first and a
fixed order would reward "always answer (A)". The guide reads which option the output chose and scores it
with the task's `multiple_choice_grade` (the chosen option's target score). Generative tasks (`target`)
score by exact match after normalizing whitespace (`exact_str_match`), e.g. `word_sorting`.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from backprose.data import Dataset, Example
from backprose.train.guides import Judgement
from bench.suite.split import stable_key

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# One neutral line per task: what to do, never how it is graded.
INSTRUCTIONS = {
    "date_understanding": "Answer the question about dates.",
    "navigate": "Answer the question about the instructions.",
    "logical_deduction": "Answer the logic puzzle.",
    "word_sorting": "Sort the given words.",
}


def load(path: Path, task: str) -> Dataset:
    """The task's examples, each input led by the task's own prefix (the question navigate's inputs omit).

    An example that occurs twice is kept once. Examples that share an input (logical_deduction asks three
    questions about each paragraph) share a `group`, which the split keeps together.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    prefix = data.get("task_prefix", "").strip()
    examples: dict[str, Example] = {}
    for record in data["examples"]:
        if "target_scores" in record:
            ex = multiple_choice_example(record, task, prefix)
        else:
            ex = generative_example(record, task, prefix + data.get("example_input_prefix", "\n"))
        examples.setdefault(ex.id, ex)
    return Dataset(sorted(examples.values(), key=lambda ex: ex.id), task)


def multiple_choice_example(record: dict[str, Any], task: str, prefix: str = "") -> Example:
    question = record["input"].strip()
    options = list(record["target_scores"])
    key = stable_key([task, question, sorted(options)])
    random.Random(key).shuffle(options)
    scores = {opt: float(record["target_scores"][opt]) for opt in options}
    best = max(options, key=lambda opt: scores[opt])
    lines = ([prefix, ""] if prefix else []) + [question, "Options:"]
    lines += [f"({LETTERS[i]}) {opt}" for i, opt in enumerate(options)]
    return Example("\n".join(lines), best, f"{task}-{key[:12]}",
                   {"options": options, "scores": scores, "group": stable_key([task, question])[:12]})


def generative_example(record: dict[str, Any], task: str, prefix: str = "") -> Example:
    target = record["target"]
    target = target[0] if isinstance(target, list) else target
    text = (prefix + record["input"].strip()).strip()
    return Example(text, str(target), f"{task}-{stable_key([task, text])[:12]}")


_LETTER = re.compile(r"\(([A-Z])\)|(?i:answer|option|choice)\W{0,3}(?:(?i:is)\W{1,3})?([A-Z])(?!\w)")


def chosen_option(output: str, options: list[str]) -> str | None:
    """The option the output names last: by letter ("(B)", "Answer: B", a bare "B") or by its own text."""
    text = str(output)
    bare = text.strip().strip("().").strip()
    if len(bare) == 1 and bare in LETTERS[:len(options)]:
        return options[LETTERS.index(bare)]
    named: list[tuple[int, int, str]] = []  # (where, length, option); the last mention wins, the longest on ties
    for m in _LETTER.finditer(text):
        index = LETTERS.index(m.group(1) or m.group(2))
        if index < len(options):
            named.append((m.start(), 0, options[index]))
    lowered = text.lower()
    for opt in options:
        words = opt.lower().rstrip(".").split()
        pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)"  # "No" never inside "Not"
        named += [(m.start(), len(opt), opt) for m in re.finditer(pattern, lowered)]
    return max(named)[2] if named else None


def multiple_choice_grade(output: Any, example: Example) -> Judgement:
    """The target score of the chosen option (1 for the right one), with the right answer as feedback."""
    options, scores = example.meta["options"], example.meta["scores"]
    pick = chosen_option("" if output is None else str(output), options)
    right = f"({LETTERS[options.index(example.target)]}) {example.target}"
    if pick is None:
        return Judgement(0.0, f"No option was chosen; the answer is {right}.")
    score = scores[pick]
    if score >= 1.0:
        return Judgement(1.0, "Correct.")
    return Judgement(score, f"Wrong: chose ({LETTERS[options.index(pick)]}) {pick}; the answer is {right}.")


def exact_str_match(output: Any, example: Example) -> Judgement:
    """1 when the output equals the target after collapsing whitespace; the feedback shows both."""
    got, want = " ".join(str("" if output is None else output).split()), " ".join(str(example.target).split())
    if got == want:
        return Judgement(1.0, "Correct.")
    return Judgement(0.0, f"Wrong: expected {want!r}, got {got!r}.")


def guide_for(path: Path) -> Any:
    """The guide for a task file: its first metric decides."""
    metrics = json.loads(Path(path).read_text(encoding="utf-8")).get("metrics", [])
    return multiple_choice_grade if "multiple_choice_grade" in metrics else exact_str_match
