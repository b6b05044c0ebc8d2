"""The demo's wiring with a scripted model: data ships with the package, the prompt improves, output says so."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from backprose.data import load
from backprose.demo import DATA, TEST_DATA, run_demo
from backprose.demo.program import Solver
from backprose.llm import Scripted
from backprose.testing import FakeOpenAIServer
from tests.reflect_requests import is_reflect

ANSWERS = {rec.input: rec.target for rec in [*load(DATA), *load(TEST_DATA)]}
# the four kinds of word problem the demo ships, each with the arithmetic its target must follow
KINDS = [(r"\w+ has (\d+) \w+ and buys (\d+) more\. How many \w+ does \w+ have now\?", lambda a, b: a + b),
         (r"\w+ had (\d+) \w+ and gave away (\d+)\. How many \w+ are left\?", lambda a, b: a - b),
         (r"There are (\d+) boxes with (\d+) \w+ in each box\. How many \w+ are there in total\?", lambda a, b: a * b),
         (r"\w+ shares (\d+) \w+ equally among (\d+) friends\. How many \w+ does each friend get\?",
          lambda a, b: a // b if a % b == 0 else None)]


def model(messages):
    text = messages[-1]["content"]
    if is_reflect(messages):  # the optimizer: a terse-format prompt
        return json.dumps({"diagnosis": "sentences", "instructions": "Reply with only the final number."})
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


def test_the_parameters_do_not_state_the_grading_rule():
    for p in Solver().parameters():
        text = f"{p.description} {p.constraint or ''}".lower()
        assert not any(word in text for word in ("graded", "exact", "numeric", "number", "format")), p.name


def test_demo_improves_the_prompt_and_prints_the_report(tmp_path, capsys):
    assert len(ANSWERS) >= 48 and all(re.fullmatch(r"\d+", a) for a in ANSWERS.values())
    llm = Scripted(model)
    assert run_demo(out=tmp_path / "run", steps=2, llm=llm) == 0
    out = capsys.readouterr().out
    assert "validation score: 0.00 before -> 1.00 after" in out
    assert "test score:       0.00 before -> 1.00 after (24 held-out problems" in out
    assert "'Reply with only the final number.', with 16 worked examples" in out  # both changes of a step
    assert f"report: {tmp_path / 'run' / 'report.html'}" in out
    assert (tmp_path / "run" / "report.html").exists() and (tmp_path / "run" / "graph.svg").exists()
    tested = json.loads((tmp_path / "run" / "test_results.json").read_text())
    assert [e["id"] for e in tested["examples"]] == [r.id for r in load(TEST_DATA)]
    assert all(e["start"]["score"] == 0 and e["final"]["score"] == 1 for e in tested["examples"])


def follower(messages):
    """A small model that copies the form of a shown worked example, and whose optimizer only ever repeats
    the starting prompt (which the recipe refuses): worked examples alone must lift the demo."""
    if is_reflect(messages):
        return json.dumps({"diagnosis": "unclear", "instructions": "Solve this math word problem."})
    answer = ANSWERS[messages[-1]["content"].split("\n\n", 1)[-1]]
    shown = any(m["role"] == "assistant" for m in messages)
    return answer if shown else f"The answer is {answer} items."


def test_worked_examples_from_the_training_set_lift_the_demo_when_no_rewrite_helps(tmp_path, capsys):
    assert run_demo(out=tmp_path / "run", steps=2, llm=Scripted(follower)) == 0
    out = capsys.readouterr().out
    assert "validation score: 0.00 before -> 1.00 after" in out
    assert "test score:       0.00 before -> 1.00 after" in out
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["instructions"]["value"] == "Solve this math word problem."
    train_inputs = {r.input for r in load(DATA)}
    shown = [d["input"] for d in best["demos"]["value"]]
    assert shown and set(shown) <= train_inputs  # training problems only, never a test one
    assert all(d["reply"] == ANSWERS[d["input"]] for d in best["demos"]["value"])  # each with its bare answer


def test_the_test_split_never_reaches_the_optimizer(tmp_path):
    """Only training problems appear in the optimizer's prompts, and only training and validation ones are
    run before training ends: the test split decides nothing."""
    asked: list[str] = []

    def watching(messages):
        if is_reflect(messages):
            asked.append(messages[-1]["content"])
        return model(messages)

    run_demo(out=tmp_path / "run", steps=2, llm=Scripted(watching))
    assert asked and not any(rec.input in prompt for rec in load(TEST_DATA) for prompt in asked)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    end = next(i for i, e in enumerate(events) if e["event"] == "end")
    scored_after = {i for e in events[end:] if e["event"] == "evaluate" for i in e["examples"]}
    assert {r.id for r in load(TEST_DATA)} <= scored_after  # scored once training was over
    events = events[:end]  # training: nothing in it may see the test split
    run = {i for e in events if e["event"] == "evaluate" for i in e["examples"]}
    run |= {r["example"] for e in events if e["event"] == "rollouts" for r in e["rollouts"]}
    assert run and not run & {r.id for r in load(TEST_DATA)}



class Killing:
    """The scripted model as a fake server's reply; SIGKILLs the client while answering its `at`-th request."""

    def __init__(self):
        self.proc, self.at, self.seen = None, 0, 0

    def __call__(self, body):
        self.seen += 1
        if self.proc is not None and self.seen == self.at:
            os.kill(self.proc.pid, signal.SIGKILL)
        return model(body["messages"])


def demo_cli(cwd, server, reply, args, kill_at=0):
    """`backprose ARGS` in a subprocess whose embedded model is the fake server."""
    cwd.mkdir(exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_"))},
           "BACKPROSE_LOCAL_BASE_URL": server.base_url, "BACKPROSE_CACHE_DIR": str(cwd / "cache")}
    reply.proc = subprocess.Popen([sys.executable, "-m", "backprose", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    reply.at, reply.seen = kill_at, 0
    try:
        out, err = reply.proc.communicate(timeout=300)
    finally:
        proc, reply.proc = reply.proc, None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_killed_demo_run_finishes_with_backprose_resume_and_scores_its_test_split(tmp_path):
    reply = Killing()
    demo = ["demo", "--out", "run", "--steps", "2"]
    with FakeOpenAIServer(reply=reply) as server:
        ref = demo_cli(tmp_path / "ref", server, reply, demo)
        assert ref.returncode == 0, ref.stderr[-3000:]
        killed = demo_cli(tmp_path / "killed", server, reply, demo, kill_at=12)  # in the first step
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        done = demo_cli(tmp_path / "killed", server, reply, ["resume", "run"])
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads((tmp_path / "killed" / "run" / "best.json").read_text())
    assert best == json.loads((tmp_path / "ref" / "run" / "best.json").read_text())
    assert best["instructions"]["value"] == "Reply with only the final number."
    assert "test score: 0.000 -> 1.000 (24 held-out examples" in done.stdout
    tested = json.loads((tmp_path / "killed" / "run" / "test_results.json").read_text())
    assert tested["scores"] == {"start": 0, "final": 1}
