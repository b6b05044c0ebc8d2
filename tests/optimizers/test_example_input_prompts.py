"""What each optimizer's prompt says about an example's input that no node of the graph holds (golden files).

The natural program passes its question to the model call as a plain string; `backward(..., inputs=)` (as
the trainer calls it) hands the question to the optimizer beside the feedback.
"""

from __future__ import annotations

import json

import pytest

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers import OPRO, OptoPrime, Reflect, TextGrad
from backprose.optimizers.problem import example_input, input_text
from backprose.trace.backward import Feedback

QUESTIONS = [{"topic": "fruit", "question": "How many apples are in 3 bags of 4?"},
             {"topic": "fruit", "question": "How many pears are left of 7 after eating 2?"}]


def judged():
    """A system prompt, one model call per question (the question a plain string), each judged 0."""
    system = bp.param("Answer.", name="system", description="system prompt of the solver")
    program = Scripted(["There are 12 apples.", "5 pears are left."])
    outs = [bp.call_llm(f"{q['topic']}: {q['question']}", system=system, llm=program) for q in QUESTIONS]
    return system, outs


def reply(**values):
    return json.dumps({"reasoning": "r", "diagnosis": "d", "suggestion": values, "value": "Reply with the number.",
                       **values})


@pytest.mark.parametrize("name", ["reflect", "optoprime", "textgrad", "opro"])
def test_prompt_with_example_inputs_golden(golden, name):
    system, outs = judged()
    llm = Scripted(lambda messages: reply(system="Reply with the number.")
                   if not messages[0]["content"].startswith("You are part of") else "Ask for the number alone.")
    optimizer = {"reflect": Reflect, "optoprime": OptoPrime, "textgrad": TextGrad, "opro": OPRO}[name]([system],
                                                                                                  llm=llm)
    feedback = ["Score: 0. Give only the number.", "Score: 0. Give only the number."]
    bp.backward(outs, feedback, inputs=QUESTIONS, propagator=getattr(optimizer, "propagator", None))
    optimizer.step()
    for i, messages in enumerate(llm.prompts):
        golden(f"{name}_example_input_{i}.txt", messages[-1]["content"])
        assert all(q["question"] in messages[-1]["content"] for q in QUESTIONS) or name == "textgrad"


def test_input_text_reads_any_shape_of_input():
    assert input_text("a question") == "a question"
    assert input_text(bp.Node("in a node")) == "in a node"
    assert input_text({"topic": "fruit", "question": "how many?"}) == "topic: fruit\nquestion: how many?"
    assert input_text(("how many?", "count them")) == "how many?\ncount them"
    assert input_text(42) == "42"


def test_an_input_already_shown_is_left_out():
    record = Feedback("f", bp.Node("out"), "f", example_input="How many?")
    assert example_input([record]) == "How many?"
    assert example_input([record], ["Question: How many? Think."]) == ""
    assert example_input([Feedback("f", bp.Node("out"), "f")]) == ""
