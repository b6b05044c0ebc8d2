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


# --- killed at any moment: deterministic kills chosen by event or by model call ---------------------------


def _kill(run_dir: Path, cache: Path, log: Path, kill_at: str, *extra: str) -> None:
    """Run (or resume) until the script SIGKILLs itself at `kill_at`."""
    done = _run(run_dir, cache, log, "--kill-at", kill_at, *extra)
    assert done.returncode == -signal.SIGKILL, (kill_at, done.returncode, done.stderr[-2000:])


def _events(run_dir: Path) -> list[dict]:
    return read_events(run_dir / "events.jsonl")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run: its result and its model calls."""
    ref = tmp_path_factory.mktemp("ref")
    done = _run(ref / "run", ref / "cache", ref / "calls.log", "--concurrency", "1", "--delay", "0")
    assert done.returncode == 0, done.stderr
    return json.loads((ref / "run" / "best.json").read_text()), _calls(ref / "calls.log"), ref / "run"


@pytest.mark.parametrize("kills", [
    ["call:1"],                # the first model call: nothing but the folder exists yet
    ["start"],                 # the starting program is scored, no step has finished
    ["rollouts:1"],            # the first step's rollouts are judged, the proposal is not made
    ["evaluate:2"],            # mid-step: a candidate has just been scored
    ["step:2"],                # a step is logged but its checkpoint is not written
    ["call:1", "start", "call:3", "rollouts:2", "call:2"],  # killed again and again while resuming
])
def test_resume_after_kills_at_any_moment(tmp_path, reference, kills):
    ref_best, ref_calls, ref_run = reference
    run, cache, log = tmp_path / "run", tmp_path / "cache", tmp_path / "calls.log"
    for i, kill_at in enumerate(kills):
        _kill(run, cache, log, kill_at, "--concurrency", "1", "--delay", "0", *(["--resume"] if i else []))
    done = _run(run, cache, log, "--resume", "--concurrency", "1", "--delay", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run / "best.json").read_text()) == ref_best
    # the per-example validation results name the same starting and final programs, answers and judgements
    assert json.loads((run / "val_results.json").read_text()) == json.loads((ref_run / "val_results.json").read_text())
    events = _events(run)
    assert [e["event"] for e in events].count("start") == 1
    assert [e["event"] for e in events].count("end") == 1
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(len(steps)))
    calls = _calls(log)
    # a call killed after the model answered is paid for and asked again (its answer never reached the cache);
    # nothing else is repeated
    repeated = Counter(calls) - Counter(ref_calls)
    assert sum(repeated.values()) == sum(k.startswith("call:") for k in kills)
    assert not Counter(ref_calls) - Counter(calls)
    assert events[-1]["spent"]["calls"] == len(calls)  # the report counts every call made, across kills


def test_call_budget_is_exact_across_kills(tmp_path, reference):
    _, ref_calls, _ = reference
    budget = 9
    assert len(ref_calls) > budget + 3  # the budget, not the steps, ends this run
    run, cache, log = tmp_path / "run", tmp_path / "cache", tmp_path / "calls.log"
    common = ("--concurrency", "1", "--delay", "0", "--max-calls", str(budget))
    for i, kill_at in enumerate(["call:3", "call:2", "start", "call:3"]):
        _kill(run, cache, log, kill_at, *common, *(["--resume"] if i else []))
    done = _run(run, cache, log, "--resume", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    end = _events(run)[-1]
    assert end["event"] == "end" and "budget of 9 model calls" in end["stopped"]
    assert len(_calls(log)) <= budget
    assert end["spent"]["calls"] == len(_calls(log))
    assert f"calls {len(_calls(log))}" in done.stdout
    assert (run / "calls.log").read_text().count("\n") == len(_calls(log))


def test_resume_without_a_cache_reruns_no_finished_evaluation(tmp_path):
    """The rollout journal, not the response cache, keeps a resumed run from re-judging what it finished."""
    run, cache, log = tmp_path / "run", tmp_path / "cache", tmp_path / "calls.log"
    _kill(run, cache, log, "step:2", "--concurrency", "1", "--delay", "0", "--no-cache")
    before = _calls(log)
    judged = {p for p in before if p.split()[1] in {"10", "11", "12", "13"}}  # validation inputs
    assert len(judged) >= 8  # the starting program and at least one candidate were scored on validation
    done = _run(run, cache, log, "--resume", "--concurrency", "1", "--delay", "0", "--no-cache")
    assert done.returncode == 0, done.stderr[-3000:]
    after = _calls(log)[len(before):]
    assert after  # the unfinished step ran again...
    assert not judged & set(after)  # ...without asking the model again for a judged (program, example) pair


def test_python_api_resume_of_a_folder_without_checkpoint_starts_once(tmp_path):
    """A start killed before any checkpoint (an older run, or a folder with only config.json) starts over
    cleanly: its partial log is dropped, so the log holds one start."""
    run, cache, log = tmp_path / "run", tmp_path / "cache", tmp_path / "calls.log"
    _kill(run, cache, log, "start", "--concurrency", "1", "--delay", "0")
    (run / "checkpoint.json").unlink(missing_ok=True)  # (an older version saved none before the first step)
    done = _run(run, cache, log, "--resume", "--concurrency", "1", "--delay", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [e["event"] for e in _events(run)].count("start") == 1
