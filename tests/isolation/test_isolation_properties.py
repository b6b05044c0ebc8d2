"""Property: for pure arithmetic, the isolated result equals the in-process result."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprose.isolation import Sandbox

OPS = ["+", "-", "*", "//", "%", "/", "**"]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(["x", "y", str(draw(st.integers(-50, 50)))]))
    op = draw(st.sampled_from(OPS))
    left, right = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    if op == "**":
        right = str(draw(st.integers(0, 3)))
    return f"({left} {op} {right})"


def in_process(source: str, x: float, y: float) -> tuple[str, object]:
    ns: dict = {}
    exec(compile(source, "<inproc>", "exec"), ns)
    try:
        return "ok", ns["f"](x, y)
    except Exception as exc:  # noqa: BLE001 - the property compares error types too
        return type(exc).__name__, None


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=expressions(), x=st.integers(-1000, 1000) | st.floats(-1e6, 1e6), y=st.integers(-1000, 1000))
def test_isolated_equals_in_process(sandbox: Sandbox, expr: str, x: float, y: int) -> None:
    source = f"def f(x, y):\n    return {expr}\n"
    kind, expected = in_process(source, x, y)
    res = sandbox.run(source, "f", (x, y))
    if kind == "ok":
        assert res.ok, res.describe()
        assert same(res.value, expected), (res.value, expected)
    else:
        assert not res.ok and res.error_type == kind and res.lineno == 2
