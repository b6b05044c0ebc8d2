"""The agent-network and Meta Agent Search benches: every decision on validation, test scored once per final
program, finished cells kept and never measured again."""

from __future__ import annotations

import json

import openai
import pytest

from backprose.data import Dataset, Example
from backprose.llm import OpenAI, Scripted
from backprose.testing_server import FakeOpenAIServer
from backprose.train.guides import Judgement
from bench import agent_network as ann
from bench import meta_search as mas
from bench.cells import Cells, table
from bench.suite import program as suite
from bench.suite.tasks import Task
from tests.reflect_requests import is_reflect, reply_key

pytestmark = pytest.mark.timeout(300)


def guide(output, example):
    got = str(output).strip().splitlines()[-1] if str(output).strip() else ""
    if got == example.target:
        return Judgement(1.0, "Correct.")
    return Judgement(0.0, f"Wrong: expected {example.target!r}.")


def toy_task(seed=0):
    """Odd items must be answered 'no', the rest 'yes'; the model below always says 'yes'."""
    def part(name, n):
        return Dataset([Example(f"{name} question {i}", "no" if i % 2 else "yes", f"{name}-{i}") for i in range(n)],
                       name)
    return Task("toy", seed, part("train", 4), part("validation", 4), part("test", 3), guide, "Answer the question.")


def optimizer_replies(messages):
    """The optimizer model's parts, told apart by their system prompts."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    user = messages[-1]["content"]
    if system.startswith("You review a multi-agent network"):
        return json.dumps({"critique": "fine", "edits": []})
    if system.startswith("You review one layer"):
        return json.dumps({"layer": "be exact", "agents": {"writer": "be exact", "reviewer": "be exact"}})
    if is_reflect(messages):
        return json.dumps({"diagnosis": "it missed", reply_key(user): "Answer yes or no."})
    if system.startswith("You improve one variable"):
        return json.dumps({"reasoning": "follow the feedback", "value": "Answer yes or no."})
    return "Say no to odd questions."


@pytest.fixture
def models():
    with FakeOpenAIServer(reply="yes", models=[suite.PROGRAM_MODEL]) as server:
        program = OpenAI(suite.PROGRAM_MODEL, server.base_url, max_concurrency=1, max_retries=0)
        scorer = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        yield server, ann.Models(program, scorer, Scripted(optimizer_replies))
        program.close()


def asked(request):
    return "\n".join(str(m["content"]) for m in request["messages"])


@pytest.mark.parametrize("row", [r for r, _ in ann.ROWS])
def test_a_row_trains_without_the_test_split_then_scores_it_once(models, row):
    server, m = models
    task = toy_task()
    tests = [str(ex.input) for ex in task.test]
    found = ann.cell(row, task, m, calls=30, batch=2)
    training = server.requests[:found["calls"]["program"]]
    scoring = server.requests[found["calls"]["program"]:]
    assert not any(q in asked(r) for r in training for q in tests)
    assert not any(q in str(p) for p in m.optimizer.prompts for q in tests)
    assert len(scoring) == found["calls"]["test"]
    per_item = 1 if row in ("single", "textgrad") else 2  # a writer and a reviewer
    assert [sum(q in asked(r) for r in scoring) for q in tests] == [per_item] * len(tests)
    assert found["scores"] == [1.0, 0.0, 1.0]  # the program says "yes" to every question
    if row in ("single", "network"):
        assert found["calls"]["program"] == found["calls"]["optimizer"] == 0


def test_worked_examples_only_changes_no_prompt_and_asks_the_optimizer_nothing(models):
    server, m = models
    task = toy_task()
    found = ann.cell("demos", task, m, calls=30, batch=2)
    initial = ann.network_spec(task.instruction)["layers"][0]["agents"]
    final = found["final"]["layers"][0]["agents"]
    assert [(a["role"], a["prompt"]) for a in final] == [(a["role"], a["prompt"]) for a in initial]
    assert found["calls"]["optimizer"] == 0 and not m.optimizer.prompts
    assert found["calls"]["program"] > 0


def test_trained_rows_spend_the_optimizer_and_keep_to_the_same_budget(models):
    server, m = models
    for row in ("textgrad", "trained"):
        found = ann.cell(row, toy_task(), m, calls=30, batch=2)
        assert found["calls"]["optimizer"] > 0
        assert found["calls"]["program"] + found["calls"]["optimizer"] <= 30


def test_finished_cells_are_kept_and_a_rerun_measures_nothing_again(models, tmp_path, capsys):
    server, m = models
    path = tmp_path / "cells.jsonl"
    settings = {"bench": "test", "calls": 30}
    ann.run(["single", "network"], [0], toy_task, m, Cells(path, settings), calls=30, batch=2)
    made = len(server.requests)
    assert made == 3 + 6 and len(path.read_text().splitlines()) == 2
    again = ann.run(["single", "network"], [0], toy_task, m, Cells(path, settings), calls=30, batch=2)
    assert len(server.requests) == made and len(again) == 2
    assert Cells(path, {**settings, "calls": 31}).cells == []  # other settings: nothing reused
    text = table("toy", {"budget": "30"}, list(ann.ROWS), again)
    assert "commit:" in text and "command:" in text
    line = next(x for x in text.splitlines() if x.startswith("single agent"))
    assert "0.667" in line


# --- Meta Agent Search ----------------------------------------------------------------------------------------
ALWAYS = '''from backprose.search.blocks import llm


def forward(task):
    llm(task)
    return "{answer}"
'''
AGENT = {"kind": "python", "source": "def reply(messages, options):\n    return 'ok'\n"}


def design(name, answer):
    from backprose.search import Design

    return Design(name, f"always {answer}", ALWAYS.format(answer=answer))


def meta_replies(name, answer):
    reply = json.dumps({"thought": "an idea", "name": name, "code": ALWAYS.format(answer=answer)})
    return Scripted(lambda messages: reply)


def letters_task(validation, test):
    def part(name, targets):
        return Dataset([Example(f"{name} {i}", t, f"{name}-{i}") for i, t in enumerate(targets)], name)
    return Task("letters", 0, part("train", ""), part("validation", validation), part("test", test), guide,
                "Answer with a letter.")


def test_a_design_best_on_test_but_worse_on_validation_is_never_chosen(tmp_path):
    task = mas.search_task(letters_task("AAA", "BBBB"))
    cells = mas.compare(task, meta_replies("always_b_again", "B"), AGENT, [design("always_a", "A"),
                        design("always_b", "B")], 1, archive=tmp_path / "archive.jsonl")
    seed, search = cells
    assert (seed["design"], search["design"]) == ("always_a", "always_a")  # the B designs win on test only
    assert seed["scores"] == search["scores"] == [0.0] * 4
    assert seed["calls"]["test"] == 4  # one design chosen twice: test run once
    archive = [json.loads(line) for line in (tmp_path / "archive.jsonl").read_text().splitlines()]
    assert [r["design"]["name"] for r in archive] == ["always_a", "always_b", "always_b_again"]
    assert all(r["design"]["fitness"]["n"] == 3 for r in archive)  # every archived score is on validation


def test_the_final_design_and_the_best_seed_are_each_chosen_on_validation_and_tested_once(tmp_path):
    task = mas.search_task(letters_task("AAC", "BBBB"))
    seed, search = mas.compare(task, meta_replies("always_a", "A"), AGENT, [design("always_b", "B"),
                               design("always_c", "C")], 1, archive=tmp_path / "archive.jsonl")
    assert seed["design"] == "always_c" and seed["validation"]["mean"] == pytest.approx(1 / 3)
    assert search["design"] == "always_a" and search["validation"]["mean"] == pytest.approx(2 / 3)
    assert seed["scores"] == search["scores"] == [0.0] * 4  # always_b, best on test, is chosen by neither
    assert seed["calls"]["test"] == search["calls"]["test"] == 4
    assert search["calls"]["optimizer"] == 2  # one proposal and one reflection
    assert search["calls"]["program"] == 3 * 3 and seed["calls"]["program"] == 2 * 3


def test_the_search_task_scores_with_the_suite_guide_and_describes_no_grading_rule():
    task = mas.search_task(letters_task("AB", "C"))
    assert task.scores(["A", "A"], "validation") == [1.0, 0.0]
    assert task.inputs("test") == ["test 0"]
    assert "Answer with a letter." in task.description and "expected" not in task.description
