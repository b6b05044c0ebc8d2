"""Optimized code runs in a worker with limits: hangs, memory bombs and exits become ErrorNodes."""

import asyncio

import pytest

import backprose as bp
from backprose.isolation import Limits
from backprose.trace.graph import shape

FACTOR = 3


@bp.bundle(trainable=True, limits=Limits(wall_time=2.0, memory_mb=256))
def transform(x):
    return x * FACTOR


def _set(code):
    transform.code.value = code


@pytest.fixture(autouse=True)
def restore():
    original = transform.code.value
    yield
    transform.code.value = original


def test_user_code_runs_in_process_and_optimized_code_in_a_worker():
    assert transform(2).value == 6
    _set("def transform(x):\n    import os\n    return (x * FACTOR, os.getpid())\n")
    import os

    value, pid = transform(2).value
    assert value == 6 and pid != os.getpid()


@pytest.mark.parametrize("body,expected", [
    ("    while True:\n        pass\n", "TimeoutError"),
    ("    junk = bytearray(2 * 1024**3)\n    return len(junk)\n", "MemoryError"),
    ("    import os\n    os._exit(7)\n", "exit"),
    ("    return undefined_name\n", "NameError"),
])
def test_failures_become_error_nodes_and_the_caller_keeps_running(body, expected):
    _set("def transform(x):\n" + body)
    x = bp.param(1, name="x")
    with pytest.raises(bp.ExecutionError) as info:
        transform(x)
    node = info.value.node
    assert expected in node.value
    assert any(p is x for p in node.parents) and any(p is transform.code for p in node.parents)
    node.backward("fix the code")
    assert transform.code.feedback[-1].user_feedback == "fix the code"
    _set("def transform(x):\n    return x + 1\n")
    assert transform(1).value == 2  # the pool recovered


def test_error_text_points_at_the_failing_line_of_the_new_code():
    _set("def transform(x):\n    y = x + 1\n    return y / 0\n")
    with pytest.raises(bp.ExecutionError) as info:
        transform(1)
    assert "ZeroDivisionError" in info.value.node.value
    assert "at line 3 of transform: return y / 0" in info.value.node.value


def test_opting_out_runs_optimized_code_in_process():
    @bp.bundle(trainable=True, isolated=False)
    def inc(x):
        return x + 1

    inc.code.value = "def inc(x):\n    import os\n    return os.getpid()\n"
    import os

    assert inc(1).value == os.getpid()


def _sync_shift(isolated):
    @bp.bundle(trainable=True, isolated=isolated)
    def shift(x):
        return x + 1

    return shift


def _async_shift(isolated):
    @bp.bundle(trainable=True, isolated=isolated)
    async def shift(x):
        return x + 1

    return shift


def _code_free_shape(call):
    """The graph of the output or of the error node, with the code parameter's source left out."""
    try:
        out = call()
    except bp.ExecutionError as err:
        out = err.node
    return [(kind, op, value if kind != "parameter" else "<code>", len(parents))
            for _, kind, op, value, parents, _ in shape(out)]


@pytest.mark.parametrize("isolated", [False, True])
@pytest.mark.parametrize("body", ["    return x * 10\n", "    raise ValueError('too big')\n"])
def test_optimized_code_gives_the_same_graph_from_a_sync_and_an_async_bundle(isolated, body):
    shift, ashift = _sync_shift(isolated), _async_shift(isolated)
    shift.code.value = "def shift(x):\n" + body
    ashift.code.value = "async def shift(x):\n" + body
    x = bp.param(4, name="x")
    expected = _code_free_shape(lambda: shift(x))
    got = _code_free_shape(lambda: asyncio.run(ashift(x)))
    assert got == expected
    assert expected[-1][2] in ("40", repr("ValueError: too big\n  at line 2 of shift: raise ValueError('too big')"))
