"""Small deterministic programs for trainer tests: no model, scores decided by a parameter."""

from __future__ import annotations

import backprose as bp


@bp.bundle()
def times(x: int, k: int) -> int:
    """Multiply the input by k."""
    return x * k


class Multiplier(bp.Module):
    """Scores 1 on (x, 3x) examples exactly when k == 3."""

    def __init__(self, k: int = 1) -> None:
        self.k = bp.param(k, name="k", description="the multiplier")

    def __call__(self, x: int) -> bp.Node:
        return times(x, self.k)


def triples(n: int = 8, start: int = 1) -> list[tuple[int, int]]:
    return [(i, 3 * i) for i in range(start, start + n)]
