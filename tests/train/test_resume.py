"""A run killed with SIGKILL mid-step and resumed ends like an uninterrupted run and repeats no model call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from backprose.train.events import read_events

HERE = Path(__file__).parent
SCRIPT = HERE / "resumable_run.py"


def _run(run_dir: Path, cache: Path, log: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(run_dir), str(cache), str(log), *extra],
                          capture_output=True, text=True, timeout=120)


def _calls(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_sigkill_mid_step_then_resume_matches_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    done = _run(ref / "run", ref / "cache", ref / "calls.log")
    assert done.returncode == 0, done.stderr
    ref_best = json.loads((ref / "run" / "best.json").read_text())

    killed = tmp_path / "killed"
    killed.mkdir()
    events = killed / "run" / "events.jsonl"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(killed / "run"), str(killed / "cache"),
                             str(killed / "calls.log")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait until step 1 is done and step 2 is under way
            records = read_events(events)
            steps = [r for r in records if r["event"] == "step"]
            if steps and records[-1]["event"] in ("rollouts", "evaluate", "refused"):
                break
            time.sleep(0.005)
        else:
            pytest.fail("the run never reached its second step")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (killed / "run" / "checkpoint.json").exists()
    calls_before = _calls(killed / "calls.log")

    resumed = _run(killed / "run", killed / "cache", killed / "calls.log", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((killed / "run" / "best.json").read_text()) == ref_best
    calls = _calls(killed / "calls.log")
    assert len(calls) > len(calls_before)  # the resumed run did real work...
    assert not [p for p, n in Counter(calls).items() if n > 1]  # ...and asked nothing twice
    assert Counter(calls) == Counter(_calls(ref / "calls.log"))  # the same calls as one clean run
    ends = [r for r in read_events(events) if r["event"] == "end"]
    assert len(ends) == 1 and ends[0]["final_val"] == 1.0
    steps = [r["step"] for r in read_events(events) if r["event"] == "step"]
    assert steps == sorted(set(steps))  # no step logged twice after truncation


def test_resume_of_a_missing_folder_is_a_clear_error(tmp_path):
    from backprose.errors import CheckpointError
    from backprose.train.checkpoint import load_checkpoint

    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint.json"):
        load_checkpoint(tmp_path / "empty")
