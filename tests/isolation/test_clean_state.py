"""Each candidate starts from a clean interpreter: nothing one candidate changes reaches the next."""

from __future__ import annotations

import os

import pytest

from backprose.isolation import Limits, Sandbox

POLLUTE = '''
import builtins, sys, threading, time, types

def pollute():
    builtins.sum = lambda *a, **k: 0
    builtins.leaked_name = "from the last candidate"
    sys.modules["planted_module"] = types.ModuleType("planted_module")
    sys.path.insert(0, "/planted")
    import json
    json.dumps = lambda *a, **k: "patched"

    def chatter():
        while True:
            print("ghost output", flush=True)
            time.sleep(0.005)

    threading.Thread(target=chatter).start()
    time.sleep(0.05)
    return "polluted"

def inspect():
    import builtins, json, sys, threading, time
    time.sleep(0.1)  # a ghost thread, if any, would print meanwhile
    return {
        "sum": sum([1, 2, 3]),
        "leaked": hasattr(builtins, "leaked_name"),
        "planted": "planted_module" in sys.modules,
        "path": "/planted" in sys.path,
        "json": json.dumps([1]),
        "threads": threading.active_count(),
    }
'''


@pytest.mark.parametrize("strict", [False, True])
def test_one_candidates_changes_never_reach_the_next(strict: bool) -> None:
    with Sandbox(workers=1, strict=strict) as sb:
        assert sb.run(POLLUTE, "pollute").value == "polluted"
        res = sb.run(POLLUTE, "inspect")
        assert res.ok, res.describe()
        assert res.value == {"sum": 6, "leaked": False, "planted": False, "path": False, "json": "[1]",
                             "threads": 1}
        assert "ghost output" not in res.stdout


LEAVE_A_PROCESS = """
import subprocess

def f():
    subprocess.Popen(["sh", "-c", "while true; do echo ghost process; sleep 0.01; done"])
    return "left"
"""


def test_processes_a_call_leaves_running_are_killed_before_the_next_call() -> None:
    with Sandbox(workers=1) as sb:
        assert sb.run(LEAVE_A_PROCESS, "f").value == "left"
        res = sb.run("import time\ndef f():\n    time.sleep(0.2)\n    return 1\n", "f")
        assert res.value == 1 and "ghost" not in res.stdout


def test_modules_the_caller_names_are_imported_once_and_each_candidate_gets_a_fresh_copy() -> None:
    src = "import math\ndef f(v):\n    old = math.pi\n    math.pi = v\n    return old\n"
    with Sandbox(workers=1) as sb:
        assert sb.run(src, "f", (3,), modules=["math"]).value == pytest.approx(3.14159, abs=1e-5)
        assert sb.run(src, "f", (4,), modules=["math"]).value == pytest.approx(3.14159, abs=1e-5)


def test_output_of_an_import_in_the_worker_is_not_repeated_in_every_call(tmp_path, monkeypatch) -> None:
    (tmp_path / "noisy_module.py").write_text("import sys\nsys.stdout.write('imported')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with Sandbox(workers=1) as sb:
        outs = [sb.run("def f():\n    return 1\n", "f", modules=["noisy_module"]).stdout for _ in range(3)]
    assert outs == ["imported", "", ""]


def test_preloaded_modules_are_imported_once_per_worker_and_not_put_in_the_namespace(tmp_path, monkeypatch) -> None:
    log = tmp_path / "imports.log"
    (tmp_path / "counted_module.py").write_text(f"with open({str(log)!r}, 'a') as f:\n    f.write('x')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    src = "def f():\n    seen = 'counted_module' in globals()\n    import counted_module\n    return seen\n"
    with Sandbox(workers=1) as sb:
        assert [sb.run(src, "f", preload=["counted_module"]).value for _ in range(3)] == [False] * 3
        assert log.read_text() == "x"
        assert sb.run(src, "f").value is False  # still loaded in the worker for calls that do not ask
    assert log.read_text() == "x"


def test_the_workers_one_time_imports_do_not_count_against_the_calls_wall_time(tmp_path, monkeypatch) -> None:
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with Sandbox(workers=1, limits=Limits(wall_time=1.0)) as sb:
        res = sb.run("def f():\n    import slow_module\n    return 1\n", "f", preload=["slow_module"])
        assert res.ok and res.value == 1, res.describe()
        assert sb.run("def f():\n    while True:\n        pass\n", "f", preload=["slow_module"]).timed_out
