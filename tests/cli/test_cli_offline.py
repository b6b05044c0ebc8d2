"""The CLI end to end against a fake OpenAI-compatible server: optimize, resume a finished run, report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backprose.testing import FakeOpenAIServer

PROG = Path(__file__).parent / "cli_programs.py"


def optoprime_reply(body):
    """Whatever the prompt, suggest the right multiplier for every variable it names."""
    text = body["messages"][-1]["content"]
    names = sorted(set(re.findall(r"\b(k(?::\d+)?)\b", text))) or ["k"]
    return json.dumps({"reasoning": "outputs are a third of the targets", "suggestion": {n: 3 for n in names}})


@pytest.fixture
def server():
    with FakeOpenAIServer(reply=optoprime_reply) as fake:
        yield fake


@pytest.fixture
def env(tmp_path, server):
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_"))},
               "BACKPROSE_BASE_URL": server.base_url, "BACKPROSE_MODEL": "fake-model", "OPENAI_API_KEY": "x",
            "BACKPROSE_CACHE_DIR": str(tmp_path / "cache")}


def cli(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_optimize_resume_and_report(tmp_path, env, server):
    data = tmp_path / "d.csv"
    data.write_text("input,target\n" + "".join(f"{i},{3 * i}\n" for i in range(1, 11)))
    done = cli("optimize", f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--steps", "2",
               "--out", "run", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation score: 0.000 -> 1.000" in done.stdout
    assert json.loads((tmp_path / "run" / "best.json").read_text())["k"]["value"] == 3
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["metric"] == "numeric" and Path(config["program"].rpartition(":")[0]).is_absolute()

    asked = len(server.requests)
    assert asked > 0
    again = cli("resume", "run", env=env, cwd=tmp_path)  # a finished run resumes to the same end
    assert again.returncode == 0, again.stderr[-3000:]
    assert "validation score: 0.000 -> 1.000" in again.stdout
    assert len(server.requests) == asked

    report = cli("report", "run", "-o", "r.html", env=env, cwd=tmp_path)
    assert report.returncode == 0 and (tmp_path / "r.html").exists()

    twice = cli("optimize", f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "run",
                env=env, cwd=tmp_path)
    assert twice.returncode == 2 and "already holds a run" in twice.stderr
