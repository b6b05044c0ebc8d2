"""What LLM-written code can do wrong comes back as a result, and the caller keeps running."""

from __future__ import annotations

import pickle
import time

from backprose.isolation import Limits, Sandbox

FAULTY = """\
import os

def divide(a, b):
    ratio = a / b
    return ratio

def outer(x):
    return helper(x) + 1

def helper(x):
    return {"a": 1}[x]

def spin():
    print("starting")
    n = 0
    while True:
        n += 1

def hog():
    chunks = []
    while True:
        chunks.append(bytearray(50 * 1024 * 1024))

def leave():
    os._exit(3)

def crash():
    import ctypes
    return ctypes.string_at(0)

def bail():
    raise SystemExit(4)

def make_lambda():
    return lambda: 1

class Local:
    pass

def make_local():
    return Local()

not_a_function = 42
"""

OK_SOURCE = "def f(x):\n    return x + 1\n"


def line_of(code: str) -> int:
    """1-based line number of the first line of FAULTY that is `code` once stripped."""
    return [ln.strip() for ln in FAULTY.splitlines()].index(code) + 1


def test_exception_points_at_the_failing_line(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "divide", (1, 0), filename="<candidate-3>")
    assert not res.ok
    assert res.error_type == "ZeroDivisionError"
    assert res.error_message == "division by zero"
    assert res.lineno == line_of("ratio = a / b")
    assert res.source_line == "ratio = a / b"
    assert 'File "<candidate-3>", line 4, in divide' in res.traceback
    assert "_worker" not in res.traceback  # worker frames are hidden
    assert res.exit_code is None


def test_nested_exception_points_at_the_deepest_frame_in_the_source(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "outer", ("zzz",))
    assert res.error_type == "KeyError"
    assert (res.lineno, res.source_line) == (line_of('return {"a": 1}[x]'), 'return {"a": 1}[x]')
    assert f"line {line_of('return helper(x) + 1')}, in outer" in res.traceback


def test_syntax_error_is_a_clear_result(sandbox: Sandbox) -> None:
    src = "def f(x):\n    return (x +\n\ndef g(:\n"
    res = sandbox.run(src, "f", (1,))
    assert not res.ok
    assert res.error_type == "SyntaxError"
    assert res.lineno is not None and res.lineno >= 2
    assert res.source_line
    assert "SyntaxError" in res.traceback
    assert sandbox.run(OK_SOURCE, "f", (1,)).value == 2


def test_missing_or_non_callable_function(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "no_such")
    assert res.error_type == "NameError" and "no_such" in res.error_message
    res = sandbox.run(FAULTY, "not_a_function")
    assert res.error_type == "TypeError" and "int" in res.error_message


def test_infinite_loop_times_out_and_the_caller_continues() -> None:
    with Sandbox(limits=Limits(wall_time=0.5), workers=1) as sb:
        first_pid = sb.worker_pids() or None
        res = sb.run(FAULTY, "spin")
        assert not res.ok and res.timed_out and res.error_type == "Timeout"
        assert 0.5 <= res.wall_time < 5
        assert res.stdout == "starting\n"  # output before the hang is kept
        assert res.lineno in (line_of("while True:"), line_of("n += 1"))
        assert res.source_line in ("while True:", "n += 1")
        assert "in spin" in res.traceback and "_worker" not in res.traceback
        assert sb.worker_pids() == []  # the stuck worker is gone
        assert sb.run(OK_SOURCE, "f", (41,)).value == 42
        assert sb.worker_pids() != first_pid


def test_cpu_time_limit_is_a_backstop() -> None:
    with Sandbox(limits=Limits(wall_time=60, cpu_time=1), workers=1) as sb:
        res = sb.run(FAULTY, "spin")
        assert res.timed_out and res.error_type == "CPUTimeLimit"
        assert res.exit_code is not None and res.exit_code < 0
        assert sb.run(OK_SOURCE, "f", (1,)).value == 2


def test_memory_bomb_is_memory_exceeded() -> None:
    with Sandbox(limits=Limits(wall_time=20, memory_mb=256), workers=1) as sb:
        res = sb.run(FAULTY, "hog")
        assert not res.ok and res.memory_exceeded and not res.timed_out
        assert res.error_type == "MemoryError"
        assert "256 MiB" in res.error_message
        assert res.lineno == line_of("chunks.append(bytearray(50 * 1024 * 1024))")
        assert sb.run(OK_SOURCE, "f", (1,)).value == 2


def test_os_exit_sets_exit_code_and_next_call_works(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "leave")
    assert not res.ok and res.exit_code == 3 and res.error_type == "WorkerExited"
    assert sandbox.run(OK_SOURCE, "f", (1,)).value == 2


def test_segfault_is_a_crash_result_with_location(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "crash")
    assert not res.ok and res.error_type == "WorkerCrashed"
    assert res.exit_code == -11
    assert "SIGSEGV" in res.error_message
    assert res.lineno == line_of("return ctypes.string_at(0)")  # from the faulthandler dump
    assert "in crash" in res.traceback and "_worker" not in res.traceback
    assert "Segmentation fault" in res.traceback and "Segmentation fault" not in res.stderr
    assert sandbox.run(OK_SOURCE, "f", (1,)).value == 2


def test_system_exit_is_an_ordinary_error(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "bail")
    assert res.error_type == "SystemExit" and res.exit_code is None
    assert res.lineno == line_of("raise SystemExit(4)")


def test_results_that_are_not_plain_data_are_error_results(sandbox: Sandbox) -> None:
    for name, type_name in (("make_lambda", "function"), ("make_local", "__optimized__.Local")):
        res = sandbox.run(FAULTY, name)
        assert not res.ok and res.error_type == "UnsupportedReturnType", name
        assert "plain data" in res.error_message and type_name in res.error_message
    assert sandbox.run(OK_SOURCE, "f", (1,)).value == 2


def test_unpicklable_arguments_are_error_results(sandbox: Sandbox) -> None:
    res = sandbox.run(OK_SOURCE, "f", (lambda: 1,))
    assert res.error_type == "PicklingError" and "arguments" in res.error_message


def test_results_pickle_for_storage(sandbox: Sandbox) -> None:
    res = sandbox.run(FAULTY, "divide", (1, 0))
    assert pickle.loads(pickle.dumps(res)) == res


def test_timeout_also_kills_subprocesses_the_code_started(tmp_path) -> None:
    pid_file = tmp_path / "child.pid"
    src = (
        "import subprocess, time\n"
        "def f(path):\n"
        "    child = subprocess.Popen(['sleep', '60'])\n"
        "    open(path, 'w').write(str(child.pid))\n"
        "    time.sleep(60)\n"
    )
    with Sandbox(limits=Limits(wall_time=1.0), workers=1) as sb:
        assert sb.run(src, "f", (str(pid_file),)).timed_out
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_a_crash_is_reported_even_when_a_process_the_code_forked_holds_the_reply_pipe() -> None:
    src = "import ctypes, os, time\ndef f():\n    if os.fork() == 0:\n        time.sleep(60)\n    ctypes.string_at(0)\n"
    with Sandbox(limits=Limits(wall_time=30), workers=1) as sb:
        res = sb.run(src, "f")
        assert res.error_type == "WorkerCrashed" and res.exit_code == -11 and not res.timed_out
        assert sb.run(OK_SOURCE, "f", (1,)).value == 2
