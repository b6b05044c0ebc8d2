"""Every optimizer that shows examples shows each example's input, however the program used it.

The trainer knows what each example asked; a program that passes it to a model call as a plain string
leaves no node for it in the graph, so the trainer hands it to the optimizer with the feedback.
"""

from __future__ import annotations

import json

import pytest

import backprose as bp
from backprose.llm import Scripted
from backprose.llm.base import messages_tokens
from backprose.optimizers import OPRO, OptoPrime, Reflect, TextGrad

QUESTIONS = ["Which river runs through Quillborough?", "How many moons does planet Zorvath have?"]


def program_llm() -> Scripted:
    return Scripted(lambda messages: "I am not sure.")


class Plain(bp.Module):
    """The most natural program: the question goes to the call as a plain string."""

    def __init__(self) -> None:
        self.llm = program_llm()
        self.instruction = bp.param("Answer.", name="instruction", description="system prompt of the solver")

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, llm=self.llm)


class AsNode(Plain):
    def __call__(self, question):
        return bp.call_llm(bp.Node(question, name="question"), system=self.instruction, llm=self.llm)


class Fields(Plain):
    """The input is a dict of fields, formatted into the prompt outside the graph."""

    def __call__(self, record):
        return bp.call_llm(f"Topic: {record['topic']}\nQ: {record['question']}", system=self.instruction,
                           llm=self.llm)


class TwoArguments(Plain):
    """The input is a pair, unpacked into a helper of two arguments."""

    def __call__(self, pair):
        return self.solve(*pair)

    def solve(self, question, hint):
        return bp.call_llm(f"{question} (hint: {hint})", system=self.instruction, llm=self.llm)


PROGRAMS = {
    "plain": (Plain, lambda q: q),
    "node": (AsNode, lambda q: q),
    "fields": (Fields, lambda q: {"topic": "geography", "question": q}),
    "two-arguments": (TwoArguments, lambda q: (q, "look it up")),
}


def teacher() -> Scripted:
    """One reply that every optimizer (and TextGrad's gradients) can read."""
    return Scripted(lambda messages: json.dumps({"diagnosis": "d", "instruction": "Answer with a name.",
                                                 "reasoning": "r", "value": "Answer with a name.",
                                                 "suggestion": {"instruction": "Answer with a name."}}))


OPTIMIZERS = {"Reflect": Reflect, "OptoPrime": OptoPrime, "TextGrad": TextGrad, "OPRO": OPRO}


def prompts_of(llm: Scripted) -> list[str]:
    return ["\n".join(str(m["content"]) for m in messages) for messages in llm.prompts]


@pytest.mark.parametrize("shape", PROGRAMS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_optimizer_sees_every_question_of_the_minibatch(name, shape):
    make, wrap = PROGRAMS[shape]
    module = make()
    llm = teacher()
    train = [(wrap(q), "the answer") for q in QUESTIONS]
    bp.train(module, train, optimizer=OPTIMIZERS[name](module.parameters(), llm=llm), steps=1, batch_size=2,
             concurrency=1)
    prompts = prompts_of(llm)
    assert prompts, "the optimizer was never asked"
    for question in QUESTIONS:  # every prompt that shows examples shows the question of each
        assert any(question in p for p in prompts), f"{name} never showed {question!r}"
    if name == "TextGrad":  # the gradient prompts and the update prompt each show it
        update = [p for p in prompts if "Give the new value of instruction" in p]
        assert update and all(q in update[0] for q in QUESTIONS)
    else:
        assert all(q in prompts[0] for q in QUESTIONS)


def test_an_input_the_graph_already_shows_is_not_shown_twice():
    module = AsNode()
    llm = teacher()
    bp.train(module, [(q, "the answer") for q in QUESTIONS], optimizer=Reflect(module.parameters(), llm=llm),
             steps=1, batch_size=2, concurrency=1)
    assert all(prompts_of(llm)[0].count(q) == 1 for q in QUESTIONS)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_huge_input_is_cut_and_the_prompt_stays_within_budget(name):
    module = Plain()
    llm = teacher()
    budget = 2000
    huge = [f"{'lorem ipsum ' * 5000}{q}" for q in QUESTIONS]  # ~60,000 characters, the question last
    optimizer = OPTIMIZERS[name](module.parameters(), llm=llm, budget=budget)
    bp.train(module, [(h, "the answer") for h in huge], optimizer=optimizer, steps=1, batch_size=2,
             concurrency=1)
    assert llm.prompts
    for messages in llm.prompts:
        assert messages_tokens(messages) <= budget
    text = "\n".join(prompts_of(llm))
    assert "lorem ipsum" in text and "chars cut" in text  # shown, and marked where it was cut
    if name != "OPRO":  # the end of an input (where a question usually is) survives the cut
        assert all(q in text for q in QUESTIONS)


def test_backward_refuses_a_count_of_inputs_that_does_not_match_the_outputs():
    a, b = bp.Node("x", name="a"), bp.Node("y", name="b")
    with pytest.raises(ValueError, match="inputs"):
        bp.backward([a, b], ["f", "g"], inputs=["only one"])

