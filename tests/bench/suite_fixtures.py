"""Small fabricated task files in the formats of BIG-bench's task.json and HumanEval.jsonl.gz."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def multiple_choice_task(path: Path, n: int = 70) -> Path:
    """Questions with three options, the right one listed first as in many BIG-bench files."""
    examples = [{"input": f"Question {i}: which is {i % 3}?",
                 "target_scores": {f"value {i % 3}": 1, f"value {(i + 1) % 3}": 0, f"value {(i + 2) % 3}": 0}}
                for i in range(n)]
    path.write_text(json.dumps({"name": "fake", "metrics": ["multiple_choice_grade"], "examples": examples}))
    return path


def paragraph_task(path: Path, paragraphs: int = 40) -> Path:
    """Three questions about each paragraph, as in logical_deduction."""
    examples = [{"input": f"Paragraph {p}.", "target_scores": {f"{w} {p} is first.": int(w == "A"),
                                                                f"{w} {p} is last.": int(w != "A")}}
                for p in range(paragraphs) for w in "ABC"]
    path.write_text(json.dumps({"name": "fake", "metrics": ["multiple_choice_grade"], "examples": examples,
                                "task_prefix": "Each paragraph describes three objects in a fixed order."}))
    return path


def word_sorting_task(path: Path, n: int = 70) -> Path:
    words = ["pear", "apple", "fig", "kiwi", "plum", "date", "lime"]
    examples = []
    for i in range(n):
        chosen = [words[(i + k) % 7] + str(i) for k in range(3)]
        examples.append({"input": " ".join(chosen), "target": " ".join(sorted(chosen))})
    path.write_text(json.dumps({"name": "fake", "metrics": ["exact_str_match"], "examples": examples,
                                "task_prefix": "Sort the following words alphabetically:",
                                "example_input_prefix": "\nList: "}))
    return path


ADD_PROMPT = 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Return a + b."""\n'
ADD_TEST = ("\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n"
            "    assert candidate(-4, 4) == 0\n")


def humaneval_file(path: Path, n: int = 1) -> Path:
    rows = [{"task_id": f"HumanEval/{i}", "prompt": ADD_PROMPT, "canonical_solution": "    return a + b\n",
             "test": ADD_TEST, "entry_point": "add"} for i in range(n)]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path
