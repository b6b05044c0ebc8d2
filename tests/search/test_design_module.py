"""The found design as a bp.Module: prompts are Parameters, feedback reaches them, and an optimizer's new
prompt is what the next isolated run uses (search outer loop, prompt optimization inner loop)."""

from __future__ import annotations

import json
import re

import pytest
from search_helpers import AGENT, PLAIN

import backprose as bp
from backprose.errors import ExecutionError
from backprose.llm import Scripted
from backprose.optimizers.optoprime import OptoPrime
from backprose.search import Design, DesignModule

TASK = "Ana has 3 apples. Then Ana doubles the apples. How many apples does Ana have now?"


@pytest.fixture
def module(sandbox):
    m = DesignModule(Design("plain", "answer directly", PLAIN, id=2), AGENT, sandbox=sandbox)
    yield m
    m.close()


def test_prompts_become_trainable_parameters(module):
    names = [name for name, _ in module.named_parameters()]
    assert names == ["prompts.PROMPTS.solve"]
    assert module.parameters()[0].value == "Solve: {task}"
    assert json.loads(json.dumps(module.state_dict()))["prompts.PROMPTS.solve"]["value"] == "Solve: {task}"


def test_the_answer_is_a_traced_op_over_the_task_and_the_prompts(module):
    out = module(TASK)
    assert out.value == "0"
    assert any(p is module.prompts["PROMPTS.solve"] for p in out.parents)
    out.backward("Wrong: the answer is 6.")
    assert [fb.text for fb in module.prompts["PROMPTS.solve"].feedback] == ["Wrong: the answer is 6."]


def test_an_optimizer_rewrites_the_prompt_and_the_next_run_uses_it(module):
    out = module(TASK)
    out.backward("Wrong: the answer is 6. Ask the model to verify its work.")

    def respond(messages):
        prompt = messages[-1]["content"]
        label = re.search(r"\(text\) (\S+) =", prompt).group(1)
        return json.dumps({"reasoning": "ask to verify", "suggestion": {label: "Verify: {task}"}})

    update = OptoPrime(module.parameters(), llm=Scripted(respond)).step()
    assert [c.new for c in update.accepted] == ["Verify: {task}"]
    assert module(TASK).value == "6"
    assert "PROMPTS['solve'] = 'Verify: {task}'" in module.export()


def test_a_failing_design_becomes_an_error_node(sandbox):
    broken = Design("broken", "t", "def forward(task):\n    return 1 / 0\n")
    m = DesignModule(broken, AGENT, sandbox=sandbox)
    with pytest.raises(ExecutionError, match="ZeroDivisionError"):
        with bp.scope("run"):
            m(TASK)
