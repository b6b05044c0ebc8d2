"""Workers never outlive their parent: closed at normal exit, and self-terminating if the parent dies."""

from __future__ import annotations

import subprocess
import sys
import time


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait_gone(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_default_sandbox_workers_stop_at_interpreter_exit() -> None:
    script = (
        "from backprose.isolation import default_sandbox\n"
        "sb = default_sandbox()\n"
        "assert sb.run('def f():\\n    return 1\\n', 'f').value == 1\n"
        "print(*sb.worker_pids())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 1
    assert _wait_gone(pids) == []


def test_worker_exits_when_its_parent_dies_mid_call() -> None:
    script = (
        "import os, sys, threading, time\n"
        "from backprose.isolation import Limits, Sandbox\n"
        "sb = Sandbox(limits=Limits(wall_time=120), workers=1)\n"
        "sb.warm()\n"
        "print(*sb.worker_pids(), flush=True)\n"
        "threading.Thread(target=sb.run, args=('import time\\ndef f():\\n    time.sleep(120)\\n', 'f')).start()\n"
        "time.sleep(0.5)\n"
        "os._exit(0)\n"  # no atexit, no finalizers: the worker is on its own
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 1
    assert _wait_gone(pids) == []
