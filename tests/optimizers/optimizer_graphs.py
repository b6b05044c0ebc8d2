"""Small graphs the optimizer tests share."""

from __future__ import annotations

import backprose as bp


@bp.bundle()
def square(v):
    """Square a number."""
    return v * v


@bp.bundle()
def add(a, b):
    """Add two numbers."""
    return a + b


@bp.bundle()
def extend(text, piece):
    """Append a piece of text to the running text."""
    return f"{text} {piece}"


def numeric_graph(value: float = 3.0):
    """x -> square -> add(., 1): a two-op graph on one number parameter."""
    x = bp.param(value, name="x", description="the number to tune", bounds=(-100, 100))
    return x, add(square(x), bp.Node(1, name="one"))


def chain(n: int, value_len: int = 60, prompt: str = "Be brief."):
    """A text parameter through `n` ops, each with its own constant input of `value_len` characters."""
    p = bp.param(prompt, name="prompt", description="the instructions")
    v = p
    for i in range(n):
        v = extend(v, bp.Node(f"<{i}>" + "x" * value_len, name="piece"))
    return p, v
