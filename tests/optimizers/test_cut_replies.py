"""Reflect, OptoPrime and TextGrad say when a reply they show stopped at its token limit (the agent network's
layer review does too: tests/networks/test_network_backward.py).

Shown a cut reply as if it were the model's whole answer ("No option was chosen"), an optimizer blames the
prompt for what the limit did; told the reply was cut, it can ask for a shorter one."""

import json

import pytest
from test_truncated_demos import RAMBLE, cut

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers import OptoPrime, Reflect, TextGrad
from backprose.optimizers.problem import CUT_NOTE


class Asker(bp.Module):
    def __init__(self, llm):
        self.llm = llm
        self.instruction = bp.param("Answer the question.", name="instruction")

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, llm=self.llm)


def answer(messages):
    """A finished reply on the first question, one cut at its token limit on the second."""
    return {"Is 7 prime?": "Yes", "Which is true? (A) 2>3 (B) 3>2": cut(RAMBLE)}[messages[-1]["content"]]


def judged_runs():
    program = Asker(Scripted(answer))
    questions = ["Is 7 prime?", "Which is true? (A) 2>3 (B) 3>2"]
    outs = [program(q) for q in questions]
    bp.backward(outs, ["Score: 1. Correct.", "Score: 0. No option was chosen; the answer is (B)."],
                inputs=questions)
    return program, outs


def test_reflect_marks_the_cut_reply_and_only_that_one():
    program, _ = judged_runs()
    prompt = Reflect(program.parameters(), llm=Scripted([])).messages(program.instruction)[1]["content"]
    cut_at = prompt.index("(score 0)")
    whole_at = prompt.index("(score 1)")
    note = "stopped at its token limit"
    assert prompt.count(note) == 1
    assert cut_at < prompt.index(note) < whole_at  # the note sits with the cut example (shown worst first)


def test_optoprime_marks_a_cut_output():
    program, outs = judged_runs()
    llm = Scripted([json.dumps({"reasoning": "r", "suggestion": {"instruction": "Answer with one letter."}})])
    OptoPrime(program.parameters(), llm=llm).step()
    user = llm.prompts[0][1]["content"]
    assert user.count(CUT_NOTE) == 1
    assert RAMBLE in user.split(CUT_NOTE)[0].splitlines()[-1]  # on the cut reply's own line


def test_textgrad_gradient_prompt_marks_a_cut_output():
    program = Asker(Scripted(answer))
    out = program("Which is true? (A) 2>3 (B) 3>2")
    llm = Scripted(["Ask for the letter alone."])
    out.backward("No option was chosen.", propagator=TextGrad(program.parameters(), llm=llm).propagator)
    assert f"{RAMBLE} {CUT_NOTE}</OUTPUT>" in llm.prompts[0][1]["content"]
    finished = Asker(Scripted(answer))("Is 7 prime?")
    llm = Scripted(["Fine."])
    finished.backward("Correct.", propagator=TextGrad(program.parameters(), llm=llm).propagator)
    assert CUT_NOTE not in llm.prompts[0][1]["content"]


@pytest.mark.live
def test_a_reply_the_local_model_cut_short_reaches_reflect_marked_and_a_finished_one_unmarked(local_llm):
    class Short(Asker):
        def __call__(self, question):
            return bp.call_llm(question, system=self.instruction, llm=self.llm, max_tokens=6, temperature=0)

    program = Short(local_llm)
    questions = ["Explain step by step how a compiler works.", "What is 2 + 3? Answer with the number only."]
    outs = [program(q) for q in questions]
    assert [o.truncated for o in outs] == [True, False]
    bp.backward(outs, ["Score: 0. Unfinished.", "Score: 1. Correct."], inputs=questions)
    prompt = Reflect(program.parameters(), llm=Scripted([])).messages(program.instruction)[1]["content"]
    assert prompt.count("stopped at its token limit") == 1
    assert prompt.index("(score 0)") < prompt.index("stopped at its token limit") < prompt.index("(score 1)")
