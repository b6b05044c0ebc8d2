"""`backprose resume` continues a CLI run SIGKILLed at any moment, and its call budget holds across kills.

The fake model server kills the CLI process while answering its Nth request, so each kill lands at an exact
moment (the first request: nothing but the run folder exists yet), never at a time a sleep guessed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backprose.testing import FakeOpenAIServer
from backprose.train.events import read_events

PROG = Path(__file__).parent / "cli_programs.py"


class Killer:
    """A fake server's reply: multiplies for the program, suggests k = 3 to the optimizer, and SIGKILLs the
    client process while answering its `at`-th request."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.at = 0
        self.seen = 0

    def __call__(self, body):
        self.seen += 1
        if self.proc is not None and self.seen == self.at:
            os.kill(self.proc.pid, signal.SIGKILL)
        text = body["messages"][-1]["content"]
        found = re.fullmatch(r"multiply (-?\d+) by (-?\d+)", text.strip())
        if found:
            return str(int(found.group(1)) * int(found.group(2)))
        names = sorted(set(re.findall(r"\b(k(?::\d+)?)\b", text))) or ["k"]
        return json.dumps({"reasoning": "outputs are a third of the targets", "suggestion": {n: 3 for n in names}})


@pytest.fixture
def killer():
    return Killer()


@pytest.fixture
def server(killer):
    with FakeOpenAIServer(reply=killer) as fake:
        yield fake


def _cli(tmp_path: Path, server, killer: Killer, args: list[str], kill_at: int = 0) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_"))},
           "BACKPROSE_BASE_URL": server.base_url, "BACKPROSE_MODEL": "fake-model", "OPENAI_API_KEY": "x",
           "BACKPROSE_CACHE_DIR": str(tmp_path / "cache")}
    killer.at, killer.seen = kill_at, 0
    proc = subprocess.Popen([sys.executable, "-m", "backprose", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    killer.proc = proc
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        killer.proc = None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _optimize_args(tmp_path: Path, *extra: str) -> list[str]:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"input": {i}, "target": {3 * i}}}\n' for i in range(1, 11)))
    return ["optimize", f"{PROG}:asker", "--data", str(data), "--metric", "numeric", "--steps", "3",
            "--concurrency", "1", "--out", "run", *extra]


def _reported(done: subprocess.CompletedProcess) -> int:
    return int(re.search(r"model calls: (\d+)", done.stdout).group(1))


def test_cli_resumes_a_run_killed_at_any_moment(tmp_path, server, killer):
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = _cli(ref_dir, server, killer, _optimize_args(ref_dir))
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_best = json.loads((ref_dir / "run" / "best.json").read_text())
    ref_calls = len(server.requests)
    assert ref_best["k"]["value"] == 3 and _reported(ref) == ref_calls

    server.requests.clear()
    work = tmp_path / "killed"
    work.mkdir()
    # the first request (only the run folder exists), a later one (scoring), then one mid-step
    for i, at in enumerate([1, 3, 6]):
        args = ["resume", "run"] if i else _optimize_args(work)
        done = _cli(work, server, killer, args, kill_at=at)
        assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    done = _cli(work, server, killer, ["resume", "run"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((work / "run" / "best.json").read_text()) == ref_best
    events = [e["event"] for e in read_events(work / "run" / "events.jsonl")]
    assert events.count("start") == 1 and events.count("end") == 1
    # each killed request was answered but its answer lost, so it was asked again: three more than one run
    assert len(server.requests) == ref_calls + 3
    assert _reported(done) == len(server.requests)


def test_cli_call_budget_is_exact_across_kills(tmp_path, server, killer):
    budget = 14
    for i, at in enumerate([2, 5, 1, 4]):
        args = ["resume", "run"] if i else _optimize_args(tmp_path, "--max-calls", str(budget))
        done = _cli(tmp_path, server, killer, args, kill_at=at)
        assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    done = _cli(tmp_path, server, killer, ["resume", "run"])
    assert done.returncode == 0, done.stderr[-3000:]
    # it ends on the budget: spent, or with too few calls left to validate a change (no step started)
    assert f"budget of {budget}" in done.stdout, done.stdout
    assert len(server.requests) <= budget
    assert _reported(done) == len(server.requests)
