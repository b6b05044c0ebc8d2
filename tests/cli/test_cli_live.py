"""The CLI end to end on the embedded local model: optimize with a 2-step budget, report, cached re-run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = Path(__file__).parents[2] / "backprose" / "demo" / "program.py"
DATA = Path(__file__).parents[2] / "backprose" / "demo" / "arithmetic.jsonl"

pytestmark = pytest.mark.live


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)


def test_optimize_two_steps_then_report_and_replay(local_llm, tmp_path):
    data = tmp_path / "small.jsonl"
    data.write_text("".join(DATA.read_text().splitlines(keepends=True)[:6]))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_"))},
           "BACKPROSE_LOCAL_BASE_URL": local_llm.base_url, "BACKPROSE_CACHE_DIR": str(tmp_path / "cache")}
    args = [f"{PROGRAM}:program", "--data", str(data), "--metric", "numeric", "--steps", "2",
            "--batch-size", "2"]
    first = cli("optimize", *args, "--out", str(tmp_path / "run"), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    scores = re.search(r"validation score: ([\d.]+) -> ([\d.]+)", first.stdout)
    assert scores and float(scores.group(2)) >= float(scores.group(1))
    calls = int(re.search(r"model calls: (\d+)", first.stdout).group(1))
    assert calls > 0
    run = tmp_path / "run"
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert checkpoint["step"] == 2 and len(checkpoint["history"]) == 2
    assert (run / "report.html").exists() and "Scores by step" in (run / "report.html").read_text()

    again = cli("optimize", *args, "--out", str(tmp_path / "run2"), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "model calls: 0 " in again.stdout  # every answer came from the cache
    assert json.loads((tmp_path / "run2" / "best.json").read_text()) == json.loads((run / "best.json").read_text())

    report = cli("report", str(run), env=env, cwd=tmp_path)
    assert report.returncode == 0 and report.stdout.strip().endswith("report.html")
