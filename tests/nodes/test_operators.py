"""Operators on nodes are traced ops: same values as plain Python, node operands as parents."""

import operator

import numpy as np
import pytest

import backprose as bp


def test_arithmetic_records_parents_in_operand_order():
    a, b = bp.param(6, name="a"), bp.param(3, name="b")
    for expr, expected in [(a + b, 9), (a - b, 3), (a * b, 18), (a / b, 2.0), (a // b, 2), (a % b, 0),
                           (a**b, 216), (-a, -6), (abs(-a), 6)]:
        assert expr.value == expected
    diff = a - b
    assert diff.parents == (a, b) and diff.name == "sub"


@pytest.mark.parametrize(("x", "y"), [(7, 2), (-7, 2), (7.5, 2), (7, -2.5), (1, 3)])
@pytest.mark.parametrize("fn", [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
                                operator.mod, operator.pow])
def test_each_arithmetic_operator_computes_exactly_what_python_does(fn, x, y):
    """Value and type, forward and reflected: `//` differs from `/` and `%` on these operands."""
    plain = fn(x, y)
    a, b = bp.param(x, name="a"), bp.param(y, name="b")
    for left, right in ((a, b), (a, y), (x, b)):
        got = fn(left, right).value
        assert type(got) is type(plain) and got == plain, (left, right, got, plain)


def test_reflected_operator_keeps_operand_order():
    a = bp.param(2, name="a")
    out = 10 - a
    assert out.value == 8
    assert out.parents == (a,)
    assert "y is the node" in out.op.doc


def test_comparisons_are_traced_and_nodes_hash_by_identity():
    a, b = bp.param(1), bp.param(1)
    eq = a == b
    assert isinstance(eq, bp.Message) and eq.value is True
    assert len({a, b}) == 2


def test_string_methods_are_single_ops():
    s = bp.param("a,b,c", name="csv")
    parts = s.split(",")
    assert parts.value == ["a", "b", "c"] and parts.name == "split" and parts.parents == (s,)
    joined = bp.Node("-").join(parts)
    assert joined.value == "a-b-c" and parts in joined.parents
    assert s.replace(",", ";").value == "a;b;c"
    assert bp.param("{x}!").format(x=s).value == "a,b,c!"
    assert s.upper().value == "A,B,C"


def test_indexing_iteration_and_len():
    xs = bp.param([1, 2, 3], name="xs")
    items = list(xs)
    assert [i.value for i in items] == [1, 2, 3]
    assert all(i.parents == (xs,) and i.name == "getitem" for i in items)
    assert xs[1:].value == [2, 3]
    assert len(xs) == 3 and xs.len().value == 3 and xs.len().parents == (xs,)
    d = bp.param({"k": 1, "j": 2})
    assert [k.value for k in d] == ["k", "j"]
    assert d["j"].value == 2


def test_attribute_access_and_numpy():
    w = bp.param(np.array([1.0, 2.0]), name="w")
    assert w.shape.value == (2,) and w.shape.name == "getattr"
    dot = w @ np.array([3.0, 4.0])
    assert dot.value == 11.0 and dot.parents == (w,)
    assert w.sum().value == 3.0


def test_missing_attribute_names_the_value_type():
    with pytest.raises(AttributeError, match="type int, which has no attribute 'nope'"):
        bp.param(3).nope  # noqa: B018


def test_failing_operator_becomes_error_node():
    a = bp.param(1, name="a")
    with pytest.raises(bp.ExecutionError) as info:
        a / 0
    node = info.value.node
    assert isinstance(node, bp.ErrorNode) and node.parents == (a,)
    assert node.value.startswith("ZeroDivisionError")
    node.backward("avoid dividing by zero")
    assert a.feedback[0].user_feedback == "avoid dividing by zero"


def test_no_trace_builds_no_graph_and_nests():
    a = bp.param(1)
    with bp.no_trace():
        with bp.no_trace():
            b = a + 1
        c = a + 2
    d = a + 3
    assert b.parents == () and c.parents == () and d.parents == (a,)
    assert b.value == 2 and c.value == 3


def test_no_trace_as_decorator():
    a = bp.param(1)

    @bp.no_trace()
    def f():
        return a + 1

    assert f().parents == () and (a + 1).parents == (a,)
