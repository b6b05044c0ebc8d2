"""Every user mistake is one message naming the fix, with exit status 2 and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PROG = HERE / "cli_programs.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"input": {i}, "target": {3 * i}}}\n' for i in range(1, 9)))
    return path


@pytest.mark.parametrize("args, message", [
    (["missing.py:program", "--data", "{data}", "--metric", "numeric"], "missing.py does not exist"),
    (["{prog}:nothing", "--data", "{data}", "--metric", "numeric"], "no object named 'nothing'. Fix: use one of"),
    (["{prog}:not_a_module", "--data", "{data}", "--metric", "numeric"], "not a callable bp.Module"),
    (["{prog}", "--data", "{data}", "--metric", "numeric"], "not of the form path.py:object"),
    (["{prog}:program", "--data", "{data}", "--metric", "nope"], "unknown metric 'nope'. Use one of"),
    (["{prog}:program", "--data", "nowhere.jsonl", "--metric", "numeric"], "the file does not exist"),
    (["{prog}:program", "--data", "{bad}", "--metric", "numeric"], "bad.jsonl, line 2: not valid JSON"),
    (["{prog}:program", "--data", "{data}", "--metric", "numeric", "--optimizer", "adam"], "unknown optimizer"),
])
def test_optimize_mistakes_exit_2_with_the_fix(tmp_path, data, args, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": 1, "target": 3}\n{"input": \n')
    args = [a.format(data=data, prog=PROG, bad=bad) for a in args]
    done = run("optimize", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("backprose: error:")


def test_resume_and_report_of_a_non_run_exit_2(tmp_path):
    for command in ("resume", "report"):
        done = run(command, str(tmp_path / "nothing"), cwd=tmp_path)
        assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_no_model_installed_is_a_clear_error(tmp_path, data):
    # An unreachable model server: the run cannot start, and says how to fix it.
    env_args = ["{prog}:program", "--data", str(data), "--metric", "numeric", "--steps", "1"]
    done = subprocess.run([sys.executable, "-m", "backprose", "optimize", env_args[0].format(prog=PROG),
                           *env_args[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**_env(), "BACKPROSE_BASE_URL": "http://127.0.0.1:9/v1", "BACKPROSE_MODEL": "m",
                               "OPENAI_API_KEY": "x"})
    assert done.returncode == 2, done.stderr
    assert "could not reach an LLM server" in done.stderr and "Traceback" not in done.stderr


def _env():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BACKPROSE_")}
