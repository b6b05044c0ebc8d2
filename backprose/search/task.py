"""A search task: what the designs are for, the validation and test examples, and a trusted scorer.

Scoring runs in the searcher's own process (it is the user's code, not the LLM's); only the designs'
`forward` runs isolated. Examples are plain dicts {"input": ..., "target": ...}.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backprose.search.blocks import last_number

Example = Mapping[str, Any]


def exact(answer: Any, example: Example) -> float:
    """1.0 when the answer, stripped and case-folded, equals the target."""
    return float(str(answer).strip().casefold() == str(example["target"]).strip().casefold())


def numeric(answer: Any, example: Example) -> float:
    """1.0 when the last number in the answer equals the target number."""
    got = last_number(str(answer)) if answer is not None else None
    return float(got is not None and float(got) == float(example["target"]))


@dataclass
class SearchTask:
    """`description` is shown to the meta agent; `validation` picks designs, `test` is only for the report."""

    name: str
    description: str
    validation: Sequence[Example]
    test: Sequence[Example] = ()
    score: Callable[[Any, Example], float] = exact
    examples_shown: int = 2
    metadata: dict[str, Any] = field(default_factory=dict)

    def inputs(self, split: str = "validation") -> list[Any]:
        return [ex["input"] for ex in self._split(split)]

    def scores(self, answers: Sequence[Any], split: str = "validation") -> list[float]:
        return [float(self.score(a, ex)) for a, ex in zip(answers, self._split(split), strict=True)]

    def _split(self, split: str) -> Sequence[Example]:
        if split not in ("validation", "test"):
            raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
        return self.validation if split == "validation" else self.test


_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fay")
_ITEMS = ("apples", "stamps", "marbles", "books", "coins", "shells")


def arithmetic(n_validation: int = 20, n_test: int = 20, *, seed: int = 0, steps: int = 2) -> SearchTask:
    """Generated multi-step word problems with integer answers (no data download, programmatic scoring)."""
    rng = random.Random(seed)

    def problem() -> dict[str, Any]:
        who, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        total = rng.randint(5, 40)
        text = f"{who} has {total} {item}."
        for _ in range(steps):
            op = rng.choice(("gets", "gives away", "doubles"))
            if op == "gets":
                k = rng.randint(2, 30)
                total += k
                text += f" Then {who} gets {k} more."
            elif op == "gives away" and total > 2:
                k = rng.randint(1, total - 1)
                total -= k
                text += f" Then {who} gives away {k}."
            else:
                total *= 2
                text += f" Then {who} doubles the {item}."
        return {"input": f"{text} How many {item} does {who} have now?", "target": str(total)}

    examples = [problem() for _ in range(n_validation + n_test)]
    return SearchTask(name="arithmetic", description="Multi-step arithmetic word problems. The answer is one "
                      "integer; it is scored correct when the last number in the returned answer equals it.",
                      validation=examples[:n_validation], test=examples[n_validation:], score=numeric,
                      metadata={"seed": seed, "steps": steps})
