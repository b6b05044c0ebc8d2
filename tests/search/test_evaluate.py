"""Isolated evaluation: every kind of broken design comes back as an error text, with usage counted.

A design that should finish gets a wall-time limit far above what it needs, because the limit also covers
the worker's first import of backprose, which a machine busy with other jobs can stretch past a few
seconds. Only the endless design, whose test is about the limit itself, runs under a short one.
"""

from __future__ import annotations

import os

import pytest
from search_helpers import AGENT, ENDLESS, MEMORY_BOMB, PLAIN, RUNTIME_ERROR, SYNTAX_ERROR, VERIFY

from backprose.errors import ClientNotPortable
from backprose.isolation import Limits
from backprose.llm import OpenAI, Scripted
from backprose.search import Evaluator, client_config
from backprose.search import seeds as seed_designs

ROOMY = Limits(wall_time=120.0, memory_mb=400)
TIGHT = Limits(wall_time=3.0, memory_mb=400)


@pytest.fixture
def evaluator(sandbox):
    return Evaluator(AGENT, sandbox=sandbox, limits=ROOMY)


def test_answers_come_back_in_order_with_the_calls_made(evaluator, task):
    ev = evaluator.evaluate(VERIFY, task.inputs(), name="verify")
    assert ev.ok and len(ev.answers) == len(task.validation)
    assert task.scores(ev.answers) == [1.0] * len(task.validation)
    assert ev.usage["calls"] == len(task.validation)
    assert task.scores(evaluator.evaluate(PLAIN, task.inputs()).answers) == [0.0] * len(task.validation)


@pytest.mark.parametrize("code, expected", [
    (SYNTAX_ERROR, "SyntaxError"),
    (RUNTIME_ERROR, "IndexError: list index out of range at line 3"),
    (ENDLESS, "time limit of 3 s"),
    (MEMORY_BOMB, "out of memory"),
    ("x = 1\n", "defines no function `forward(task)`"),
    ("import os\n\ndef forward(task):\n    os._exit(3)\n", "WorkerExited"),
])
def test_broken_designs_are_reported_not_raised(evaluator, task, sandbox, code, expected):
    limits = TIGHT if code is ENDLESS else ROOMY
    ev = Evaluator(AGENT, sandbox=sandbox, limits=limits).evaluate(code, task.inputs(), name="broken")
    assert not ev.ok and expected in ev.error
    # The searcher's process is untouched and the pool still works afterwards.
    assert os.getpid() not in sandbox.worker_pids()
    assert evaluator.evaluate(VERIFY, task.inputs()[:2]).answers == [ex["target"] for ex in task.validation[:2]]


def test_runtime_error_names_the_input_and_keeps_the_calls_spent(evaluator):
    code = VERIFY.replace("    return llm", "    if 'Ben' in task:\n        raise ValueError('no Ben')\n    return llm")
    ev = evaluator.evaluate(code, ["Ana has 3 apples.", "Ben has 2 stamps."])
    assert "ValueError: no Ben" in ev.error and "Ben has 2 stamps" in ev.error
    assert ev.answers == ["3"] and ev.usage["calls"] == 1


def test_prompt_overrides_reach_the_design(evaluator):
    inputs = ["Ana has 3 apples. Then Ana doubles the apples."]
    assert evaluator.evaluate(PLAIN, inputs).answers == ["0"]
    tuned = {"PROMPTS.solve": "Verify carefully: {task}"}
    assert evaluator.evaluate(PLAIN, inputs, prompts=tuned).answers == ["6"]


def test_every_seed_runs_isolated(evaluator, task):
    for seed in seed_designs.load():
        ev = evaluator.evaluate(seed.code, task.inputs()[:2], name=seed.name)
        assert ev.ok, (seed.name, ev.error)
        assert ev.usage["calls"] >= 2


def test_client_config_from_clients(tmp_path):
    client = OpenAI("m", "http://127.0.0.1:9/v1", cache=str(tmp_path), options={"max_tokens": 5})
    config = client_config(client)
    assert config["base_url"] == "http://127.0.0.1:9/v1" and config["model"] == "m"
    assert config["options"] == {"max_tokens": 5} and config["cache"] == str(tmp_path)
    assert client_config({"kind": "scripted", "replies": ["a"]}) == {"kind": "scripted", "replies": ["a"]}
    with pytest.raises(ClientNotPortable, match="config dict"):
        client_config(Scripted(["a"]))
