"""A caller that is SIGKILLed leaves nothing behind: no worker, no process the code started, no temp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CALLER = r'''
import sys
from backprose.isolation import Limits, Sandbox

SRC = """
import json, os, subprocess, time
def f(report):
    child = subprocess.Popen(["sleep", "300"])
    info = {"candidate": os.getpid(), "worker": os.getppid(), "sleep": child.pid,
            "tmp": os.environ.get("HOME")}
    with open(report + ".part", "w") as fh:
        json.dump(info, fh)
    os.rename(report + ".part", report)
    time.sleep(300)
"""
with Sandbox(limits=Limits(wall_time=600), workers=1, strict={strict}) as sb:
    sb.run(SRC, "f", (sys.argv[1],))
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("strict", [True, False])
def test_sigkilled_caller_takes_the_worker_its_children_and_its_temp_dir(tmp_path: Path, strict: bool) -> None:
    report = tmp_path / "report.json"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    caller = subprocess.Popen([sys.executable, "-c", CALLER.replace("{strict}", str(strict)), str(report)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not report.exists():
            assert caller.poll() is None, caller.stderr.read().decode()
            assert time.monotonic() < deadline, "the candidate never started"
            time.sleep(0.05)
        info = json.loads(report.read_text())
        tmp = info["tmp"] if strict else None
        if not strict:
            tmp = next(p for p in Path(os.readlink(f"/proc/{info['worker']}/fd/1")).parents
                       if p.name.startswith("backprose-worker-"))
        assert Path(tmp).is_dir()
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait()
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    pids = (info["worker"], info["candidate"], info["sleep"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (any(map(_alive, pids)) or Path(tmp).exists()):
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(pid)] == []
    assert not Path(tmp).exists()
