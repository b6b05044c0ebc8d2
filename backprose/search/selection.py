"""Parent selection and the bounded slice of the archive that the meta agent sees.

The whole archive is never pasted into a prompt: it grows without bound and showing all of it was found
to help less than showing none. Instead parents are drawn score-weighted (a softmax over validation
medians) mixed with uniform exploration, so weak-but-different designs still get picked now and then,
and the prompt shows the parents plus a few of the best others in full, and at most `listed` names.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from backprose.search.design import Design

OPERATORS = {"mutate": 0.7, "crossover": 0.3}
"""Default mix. Mutation of a good design is the most reliable small step, so it is the default move;
crossover (two parents) brings in recombination now and then. "novel" (no parents) is available too."""


def choose_operator(rng: random.Random, operators: Mapping[str, float], available: int) -> str:
    """Draw an operator by weight; fall back to what the number of evaluated designs allows."""
    names = [n for n, w in operators.items() if w > 0]
    if not names:
        raise ValueError("operators needs at least one positive weight among mutate, crossover, novel")
    unknown = set(names) - {"mutate", "crossover", "novel"}
    if unknown:
        raise ValueError(f"unknown operators {sorted(unknown)}; use mutate, crossover or novel")
    op = rng.choices(names, weights=[operators[n] for n in names])[0]
    if op == "crossover" and available < 2:
        op = "mutate"
    if op == "mutate" and available < 1:
        op = "novel"
    return op


def weights(designs: Sequence[Design], temperature: float, exploration: float) -> list[float]:
    """Selection probabilities: (1 - exploration) * softmax(median / temperature) + exploration / n."""
    if not designs:
        return []
    scores = [d.fitness.median if d.fitness else 0.0 for d in designs]
    top = max(scores)
    soft = [math.exp((s - top) / max(temperature, 1e-9)) for s in scores]
    total = sum(soft)
    n = len(designs)
    return [(1 - exploration) * s / total + exploration / n for s in soft]


def select_parents(designs: Sequence[Design], count: int, rng: random.Random, *, temperature: float = 0.1,
                   exploration: float = 0.2) -> list[Design]:
    """`count` distinct parents among evaluated `designs`, drawn without replacement by `weights`."""
    pool = [d for d in designs if d.ok]
    chosen: list[Design] = []
    while pool and len(chosen) < count:
        w = weights(pool, temperature, exploration)
        pick = rng.choices(range(len(pool)), weights=w)[0]
        chosen.append(pool.pop(pick))
    return chosen


def context_slice(designs: Sequence[Design], parents: Sequence[Design], *, shown: int = 3,
                  listed: int = 10) -> tuple[list[Design], list[Design]]:
    """What the prompt shows: the parents and the `shown` best other designs in full, then up to `listed`
    more by name and score (best first), so the meta agent knows what exists without reading it all."""
    parent_ids = {p.id for p in parents}
    others = sorted((d for d in designs if d.id not in parent_ids),
                    key=lambda d: (-(d.fitness.median if d.fitness else -1.0), d.id))
    full = list(parents) + [d for d in others if d.ok][:shown]
    full_ids = {d.id for d in full}
    rest = [d for d in others if d.id not in full_ids][:listed]
    return full, rest
