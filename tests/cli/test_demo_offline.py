"""The demo's wiring with a scripted model: data ships with the package, the prompt improves, output says so."""

from __future__ import annotations

import json
import re

from backprose.data import load
from backprose.demo import DATA, TEST_DATA, run_demo
from backprose.demo.program import Solver
from backprose.llm import Scripted

ANSWERS = {rec.input: rec.target for rec in [*load(DATA), *load(TEST_DATA)]}
# the four kinds of word problem the demo ships, each with the arithmetic its target must follow
KINDS = [(r"\w+ has (\d+) \w+ and buys (\d+) more\. How many \w+ does \w+ have now\?", lambda a, b: a + b),
         (r"\w+ had (\d+) \w+ and gave away (\d+)\. How many \w+ are left\?", lambda a, b: a - b),
         (r"There are (\d+) boxes with (\d+) \w+ in each box\. How many \w+ are there in total\?", lambda a, b: a * b),
         (r"\w+ shares (\d+) \w+ equally among (\d+) friends\. How many \w+ does each friend get\?",
          lambda a, b: a // b if a % b == 0 else None)]


def model(messages):
    text = messages[-1]["content"]
    if messages[0]["content"].startswith("You improve one parameter"):  # the optimizer: a terse-format prompt
        return json.dumps({"instructions": "Reply with only the final number."})
    question = text.split("\n\n", 1)[-1]
    answer = ANSWERS[question]
    return answer if text.startswith("Reply with only") else f"The answer is {answer} items."


def test_every_shipped_word_problem_has_the_right_target():
    for path in (DATA, TEST_DATA):
        for rec in load(path):
            matches = [(m, rule) for pattern, rule in KINDS if (m := re.fullmatch(pattern, rec.input))]
            assert len(matches) == 1, rec.input
            m, rule = matches[0]
            assert str(rule(int(m.group(1)), int(m.group(2)))) == rec.target, rec.input


def test_the_test_split_is_held_out():
    train_val, test = load(DATA), load(TEST_DATA)
    assert len(test) >= 24
    assert not {r.input for r in train_val} & {r.input for r in test}
    assert not {r.id for r in train_val} & {r.id for r in test}


def test_the_parameter_does_not_state_the_grading_rule():
    p = Solver().instructions
    text = f"{p.description} {p.constraint}".lower()
    assert not any(word in text for word in ("graded", "exact", "numeric", "number", "format"))


def test_demo_improves_the_prompt_and_prints_the_report(tmp_path, capsys):
    assert len(ANSWERS) >= 48 and all(re.fullmatch(r"\d+", a) for a in ANSWERS.values())
    llm = Scripted(model)
    assert run_demo(out=tmp_path / "run", steps=2, llm=llm) == 0
    out = capsys.readouterr().out
    assert "validation score: 0.00 before -> 1.00 after" in out
    assert "test score:       0.00 before -> 1.00 after (24 held-out problems" in out
    assert "'Reply with only the final number.'" in out
    assert f"report: {tmp_path / 'run' / 'report.html'}" in out
    assert (tmp_path / "run" / "report.html").exists() and (tmp_path / "run" / "graph.svg").exists()
    tested = json.loads((tmp_path / "run" / "test.json").read_text())
    assert [e["example"] for e in tested["examples"]] == [r.id for r in load(TEST_DATA)]
    assert all(e["before"] == 0 and e["after"] == 1 for e in tested["examples"])


def test_the_test_split_never_reaches_the_optimizer(tmp_path):
    """Only training problems appear in the optimizer's prompts, and only training and validation ones are
    run before training ends: the test split decides nothing."""
    asked: list[str] = []

    def watching(messages):
        if messages[0]["content"].startswith("You improve one parameter"):
            asked.append(messages[-1]["content"])
        return model(messages)

    run_demo(out=tmp_path / "run", steps=2, llm=Scripted(watching))
    assert asked and not any(rec.input in prompt for rec in load(TEST_DATA) for prompt in asked)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    run = {i for e in events if e["event"] == "evaluate" for i in e["examples"]}
    run |= {r["example"] for e in events if e["event"] == "rollouts" for r in e["rollouts"]}
    assert run and not run & {r.id for r in load(TEST_DATA)}
