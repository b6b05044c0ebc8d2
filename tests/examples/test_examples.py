"""Every example runs in fast mode against its committed recording of a real local-model run.

A replayed request that was never recorded raises `CacheMiss`, so an example whose prompts drift from the
recording fails here instead of quietly rotting. The live run of each is `python examples/NAME.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backprose.testing_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REPLAYS = EXAMPLES / "replays"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BACKPROSE_BASE_URL", "BACKPROSE_MODEL", "OPENAI_API_KEY", "BACKPROSE_CACHE_MODE",
                        "BACKPROSE_REPLAY")}
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--replay", str(REPLAYS / f"{name}.jsonl"),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


# Extra arguments of each fast run; a recording stopped early covers fewer optimizer steps.
RECORDED = {"decorate_workflow": (), "numeric_parameters": (), "trainable_code": ("--steps", "2")}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_fast_mode_prints_what_the_recorded_live_run_printed(name, tmp_path):
    out = run_example(name, *RECORDED[name], cwd=tmp_path)
    assert out == (REPLAYS / f"{name}.out").read_text()


def test_cli_example_optimizes_from_the_recording_and_writes_the_report(tmp_path):
    out = run_example("optimize_prompts", "--steps", "1", "--out", str(tmp_path / "run"), cwd=tmp_path)
    recorded = (REPLAYS / "optimize_prompts.out").read_text()
    score = re.search(r"validation score: .*", recorded).group(0)
    assert score in out  # the same scores as the live run, from cached answers only
    assert "model calls: 0" in out
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<svg" in report and "instructions" in report
    assert (tmp_path / "run" / "best.json").is_file()


def section(path: Path) -> list[str]:
    text = path.read_text()
    return text[text.index("# --- pipeline"):text.index("# --- end pipeline")].splitlines()


def test_decorating_the_workflow_adds_lines_and_rewrites_none():
    plain, traced = section(EXAMPLES / "support_pipeline_plain.py"), section(EXAMPLES / "decorate_workflow.py")
    added = [line for line in traced if line.startswith("@bp.bundle") or line.startswith("ANSWER_STYLE = bp.param(")]
    assert len(added) == 5  # four steps decorated, one prompt made trainable
    assert [line for line in traced if line not in added] == plain


def test_replays_are_small():
    total = sum(p.stat().st_size for p in REPLAYS.glob("*.jsonl"))
    assert 0 < total < 400_000


def solve_word_problem(body: dict) -> str:
    """A scripted model for examples 5 and 6: it answers the generated word problems correctly."""
    text = str(body["messages"][-1]["content"])
    found = re.search(r"(\d+) (?:boxes|bags) with (\d+) .*? (buys|gives away) (\d+)", text)
    if not found:
        return "I cannot tell."
    boxes, each, verb, extra = found.groups()
    total = int(boxes) * int(each) + (int(extra) if verb == "buys" else -int(extra))
    return f"The answer is\n{total}"


@pytest.fixture()
def scripted_local_model(monkeypatch):
    """`bp.llm.Local()` in the examples talks to a scripted server instead of starting llama.cpp."""
    with FakeOpenAIServer(reply=solve_word_problem, models=["qwen2.5-coder-0.5b-instruct-q4"]) as server:
        monkeypatch.setenv("BACKPROSE_LOCAL_BASE_URL", server.base_url)
        yield server


def run_scripted(name: str, *args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


@pytest.mark.timeout(900)
def test_agent_network_example_trains_saves_and_reloads(scripted_local_model, tmp_path):
    out = run_scripted("agent_network", "--steps", "1", "--train", "2", "--val", "2", "--test", "2",
                       "--out", "ann", cwd=tmp_path)
    assert "designed layers:" in out
    assert re.search(r"reloaded network on 2 unseen problems: 1\.00", out), out
    assert scripted_local_model.calls > 0
    assert list((tmp_path / "ann").iterdir())


@pytest.mark.timeout(900)
def test_meta_agent_search_example_archives_and_exports(scripted_local_model, tmp_path):
    out = run_scripted("meta_agent_search", "--generations", "1", "--validation", "2", "--test", "2",
                       "--archive", "mas/archive.jsonl", "--cache", "mas/cache", "--export", "mas/best.py",
                       cwd=tmp_path)
    assert "best design written to mas/best.py" in out
    archive = (tmp_path / "mas/archive.jsonl").read_text().splitlines()
    assert len(archive) >= 3  # the three seeds at least, each evaluated in isolated workers
    compile((tmp_path / "mas/best.py").read_text(), "best.py", "exec")
