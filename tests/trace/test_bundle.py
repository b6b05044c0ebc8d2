"""Bundles: one traced op per call, raw values inside, every node the body depended on as a parent."""

import asyncio

import pytest

import backprose as bp

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
