"""Bundles: one traced op per call, raw values inside, every node the body depended on as a parent."""

import asyncio
import contextlib
import re

import pytest

import backprose as bp
from backprose.trace.graph import shape

PROMPT = bp.param("Be brief.", name="prompt")


@bp.bundle()
def greet(name, punctuation="!"):
    """Greet someone."""
    return f"hello {name}{punctuation}"


@bp.bundle()
def uses_global(question):
    return f"{PROMPT}\n{question}"


def test_plain_values_become_named_constants_and_body_sees_raw_values():
    out = greet("ada", punctuation="?")
    assert out.value == "hello ada?"
    assert [(p.name, p.value) for p in out.parents] == [("name", "ada"), ("punctuation", "?")]
    assert out.op.doc == "Greet someone."


def test_each_call_records_its_own_inputs():
    a, b = greet("a"), greet("b")
    assert a.parents[0].value == "a" and b.parents[0].value == "b"
    assert a.parents[0] is not b.parents[0]


def test_nodes_read_from_globals_and_closures_become_parents():
    out = uses_global("why?")
    assert PROMPT in out.parents
    secret = bp.param("closure", name="secret")

    @bp.bundle()
    def uses_closure(x):
        return x + secret.value

    assert secret in uses_closure("a").parents


def test_nodes_inside_containers_are_parents():
    a, b = bp.param("x"), bp.param("y")

    @bp.bundle()
    def concat(items):
        return "".join(items)

    out = concat([a, "-", b])
    assert out.value == "x-y" and a in out.parents and b in out.parents


def test_methods_read_self_parameters():
    class Agent(bp.Module):
        def __init__(self):
            self.system = bp.param("sys")

        @bp.bundle()
        def answer(self, q):
            return self.system.value + ":" + q

    agent = Agent()
    out = agent.answer("q")
    assert out.value == "sys:q" and agent.system in out.parents


def test_lambda_and_async_functions():
    triple = bp.bundle()(lambda v: v * 3)
    assert triple(bp.param(2)).value == 6 and triple(2).name == "lambda"

    @bp.bundle()
    async def slow_add(x, y):
        await asyncio.sleep(0)
        return x + y

    a = bp.param(1)
    out = asyncio.run(slow_add(a, 2))
    assert out.value == 3 and a in out.parents


def test_exception_becomes_error_node_naming_the_failing_line():
    a = bp.param(0, name="a")

    @bp.bundle()
    def divide(x):
        y = 10
        return y / x

    with pytest.raises(bp.ExecutionError) as info:
        divide(a)
    node = info.value.node
    assert isinstance(node, bp.ErrorNode) and a in node.parents
    assert "ZeroDivisionError" in node.value and "return y / x" in node.value
    node.backward("do not divide by zero")
    assert a.feedback[0].user_feedback == "do not divide by zero"


def test_returning_a_node_unwraps_it():
    p = bp.param("v")

    @bp.bundle()
    def passthrough():
        return p

    out = passthrough()
    assert out.value == "v" and p in out.parents


def test_trainable_method_code_is_instance_local():
    class Solver(bp.Module):
        @bp.bundle(trainable=True)
        def parse(self, raw):
            return raw.strip()

    s1, s2 = Solver(), Solver()
    assert s1.parse.code is not s2.parse.code
    assert [n for n, _ in s1.named_parameters()] == ["parse.code"]
    out = s1.parse(" x ")
    # `in` would compare with the traced `==` (by value); graph membership is by identity.
    assert any(p is s1.parse.code for p in out.parents)
    assert not any(p is s2.parse.code for p in out.parents)
    with pytest.raises(AttributeError, match="belongs to an instance"):
        Solver.parse.code  # noqa: B018


def test_not_trainable_has_no_code():
    with pytest.raises(AttributeError, match="trainable=True"):
        greet.code  # noqa: B018


def test_untraced_call_returns_a_constant():
    with bp.no_trace():
        out = greet("x")
    assert out.value == "hello x!" and out.parents == ()


# --- sync and async bundles are one implementation: the same cases build the same graphs and errors -----
LIMIT = bp.param(3, name="limit")


def sync_bundles():
    @bp.bundle()
    def scale(x, k=2):
        return x * k + LIMIT.value

    @bp.bundle()
    def check(x):
        if x > LIMIT.value:
            raise ValueError(f"{x} is above the limit")
        return x

    @bp.bundle(traceable=True)
    def route(x):
        if x > LIMIT:
            return "escalate"
        return x + 1

    @bp.bundle(traceable=True)
    def traced_check(x):
        y = x * 2
        if y > LIMIT:
            raise ValueError("doubled is above the limit")
        return y

    return scale, check, route, traced_check


def async_bundles():
    @bp.bundle()
    async def scale(x, k=2):
        await asyncio.sleep(0)
        return x * k + LIMIT.value

    @bp.bundle()
    async def check(x):
        await asyncio.sleep(0)
        if x > LIMIT.value:
            raise ValueError(f"{x} is above the limit")
        return x

    @bp.bundle(traceable=True)
    async def route(x):
        await asyncio.sleep(0)
        if x > LIMIT:
            return "escalate"
        return x + 1

    @bp.bundle(traceable=True)
    async def traced_check(x):
        await asyncio.sleep(0)
        y = x * 2
        if y > LIMIT:
            raise ValueError("doubled is above the limit")
        return y

    return scale, check, route, traced_check


def outcome(call):
    """What a call gave, as plain data: the graph of its output or of its error node, or a raw exception."""
    try:
        out = call()
    except bp.ExecutionError as err:
        return "ExecutionError", re.sub(r"at line \d+", "at line N", repr(shape(err.node)))
    except Exception as err:
        return type(err).__name__, str(err)
    return "ok", repr(shape(out))


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("args", [(1,), (bp.param(2, name="x"),), (5,), (bp.param(7, name="x"),)])
@pytest.mark.parametrize("tracing", [True, False])
def test_sync_and_async_bundles_build_the_same_graph_or_raise_the_same_error(index, args, tracing):
    sync, asynchronous = sync_bundles()[index], async_bundles()[index]
    with contextlib.nullcontext() if tracing else bp.no_trace():
        expected = outcome(lambda: sync(*args))
        got = outcome(lambda: asyncio.run(asynchronous(*args)))
    assert got == expected


def test_an_async_traceable_body_that_raises_gives_an_error_node():
    traced_check = async_bundles()[3]
    x = bp.param(4, name="x")
    with pytest.raises(bp.ExecutionError) as info:
        asyncio.run(traced_check(x))
    node = info.value.node
    assert isinstance(node, bp.ErrorNode) and "doubled is above the limit" in node.value
    assert "y > LIMIT" not in node.value and 'raise ValueError("doubled' in node.value
    node.backward("keep it under the limit")
    assert len(x.feedback) == 1 and len(LIMIT.feedback) >= 1
