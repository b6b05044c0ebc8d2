"""The demo's wiring with a scripted model: data ships with the package, the prompt improves, output says so."""

from __future__ import annotations

import json
import re

from backprose.data import load
from backprose.demo import DATA, run_demo
from backprose.llm import Scripted

ANSWERS = {rec.input: rec.target for rec in load(DATA)}


def model(messages):
    text = messages[-1]["content"]
    if messages[0]["content"].startswith("You improve one parameter"):  # the optimizer: a terse-format prompt
        return json.dumps({"instructions": "Reply with only the final number."})
    question = text.split("\n\n", 1)[-1]
    answer = ANSWERS[question]
    return answer if text.startswith("Reply with only") else f"The answer is {answer} items."


def test_demo_improves_the_prompt_and_prints_the_report(tmp_path, capsys):
    assert len(ANSWERS) >= 24 and all(re.fullmatch(r"\d+", a) for a in ANSWERS.values())
    llm = Scripted(model)
    assert run_demo(out=tmp_path / "run", steps=2, llm=llm) == 0
    out = capsys.readouterr().out
    assert "validation score: 0.00 before -> 1.00 after" in out
    assert "'Reply with only the final number.'" in out
    assert f"report: {tmp_path / 'run' / 'report.html'}" in out
    assert (tmp_path / "run" / "report.html").exists() and (tmp_path / "run" / "graph.svg").exists()
