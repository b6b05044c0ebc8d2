"""Ordinary calls: values, arguments, namespaces and captured output cross the boundary intact."""

from __future__ import annotations

import os

import numpy as np
import pytest

from backprose.errors import IsolatedCallError
from backprose.isolation import IsolatedResult, Limits, Sandbox

SOURCE = """
import math

def area(r, *, scale=1.0):
    print("computing", r)
    return math.pi * r * r * scale

def pid():
    import os
    return os.getpid(), os.getppid()
"""


def test_returns_value_and_captures_stdout(sandbox: Sandbox) -> None:
    res = sandbox.run(SOURCE, "area", (2.0,), {"scale": 0.5})
    assert res.ok and isinstance(res, IsolatedResult)
    assert res.value == pytest.approx(2 * 3.141592653589793)
    assert res.stdout == "computing 2.0\n"
    assert res.error_type is None and res.exit_code is None and not res.timed_out
    assert res.wall_time > 0


def test_runs_in_another_process(sandbox: Sandbox) -> None:
    code_pid, worker_pid = sandbox.run(SOURCE, "pid").value
    assert os.getpid() not in (code_pid, worker_pid)
    assert worker_pid in sandbox.worker_pids()  # the code runs in a child of a warm worker


def test_workers_are_reused_between_calls_and_each_call_gets_a_fresh_child() -> None:
    with Sandbox(workers=1) as sb:
        calls = [sb.run(SOURCE, "pid").value for _ in range(4)]
    assert len({worker for _, worker in calls}) == 1
    assert len({child for child, _ in calls}) == 4


def test_max_calls_per_worker_recycles_the_worker() -> None:
    with Sandbox(workers=1, max_calls_per_worker=2) as sb:
        pids = [sb.run(SOURCE, "pid").value[1] for _ in range(4)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[0] != pids[2]


def test_each_call_gets_a_fresh_namespace(sandbox: Sandbox) -> None:
    src = "counter = 0\ndef bump():\n    global counter\n    counter += 1\n    return counter\n"
    assert [sandbox.run(src, "bump").value for _ in range(3)] == [1, 1, 1]


def test_globals_and_modules_are_injected(sandbox: Sandbox) -> None:
    src = "def f(text):\n    return json.dumps({'n': len(re.findall(PATTERN, text)), 'r': np.sqrt(16.0)})\n"
    res = sandbox.run(src, "f", ("a1b22c333",), globals={"PATTERN": r"\d+"},
                      modules=["json", "re", "numpy as np"])
    assert res.ok, res.describe()
    assert res.value == '{"n": 3, "r": 4.0}'


def test_numpy_arrays_round_trip(sandbox: Sandbox) -> None:
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    res = sandbox.run("def f(a):\n    return a * 2\n", "f", (arr,))
    assert res.ok, res.describe()
    np.testing.assert_array_equal(res.value, arr * 2)


def test_unwrap_returns_value_or_raises_with_result(sandbox: Sandbox) -> None:
    assert sandbox.run("def f():\n    return [1, {'a': 2}]\n", "f").unwrap() == [1, {"a": 2}]
    res = sandbox.run("def f():\n    raise KeyError('missing')\n", "f")
    with pytest.raises(IsolatedCallError) as info:
        res.unwrap()
    assert info.value.result is res
    assert "KeyError" in str(info.value) and "line 2" in str(info.value)


def test_long_output_is_truncated_to_the_bound(sandbox: Sandbox) -> None:
    src = "def f():\n    for i in range(20000):\n        print('line', i)\n    return 1\n"
    res = sandbox.run(src, "f", limits=Limits(max_output=1000))
    assert res.ok
    assert len(res.stdout) < 1200
    assert res.stdout.startswith("line 0\n") and res.stdout.rstrip().endswith("line 19999")
    assert "output truncated" in res.stdout


def test_fd_level_output_is_captured(sandbox: Sandbox) -> None:
    src = "import os, sys\ndef f():\n    os.write(2, b'native\\n')\n    print('py err', file=sys.stderr)\n"
    res = sandbox.run(src, "f")
    assert res.ok and res.value is None
    assert "native\n" in res.stderr and "py err\n" in res.stderr
    # Output does not leak into the next call.
    assert sandbox.run(SOURCE, "pid").stderr == ""


def test_per_call_limits_override_the_default(sandbox: Sandbox) -> None:
    src = "import time\ndef f():\n    time.sleep(0.6)\n    return 'done'\n"
    assert sandbox.run(src, "f", limits=Limits(wall_time=0.2)).timed_out
    assert sandbox.run(src, "f").value == "done"


def test_limits_validate_their_values() -> None:
    with pytest.raises(ValueError, match="wall_time"):
        Limits(wall_time=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=1)
    assert Limits(wall_time=2.5).effective_cpu_time == 4
    assert Limits(cpu_time=0.2).effective_cpu_time == 1
    with pytest.raises(ValueError, match="workers"):
        Sandbox(workers=0)
