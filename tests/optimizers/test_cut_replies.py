"""Reflect, OptoPrime and TextGrad say when a reply they show stopped at its token limit (the agent network's
layer review does too: tests/networks/test_network_backward.py).

Shown a cut reply as if it were the model's whole answer ("No option was chosen"), an optimizer blames the
prompt for what the limit did; told the reply was cut, it can ask for a shorter one. Reflect's request about a
prompt is the exception: told that, the small optimizer model asked the model not to stop at its limit."""

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


@bp.bundle()
def worded(question, words):
    """The question, then how many words the answer may have."""
    return f"{question} Answer in at most {words} words."


class Worded(Asker):
    """A number feeds the call too: not a prompt, so Reflect's request about it keeps the cut note."""

    def __init__(self, llm, **options):
        super().__init__(llm)
        self.words = bp.param(30, name="words", description="how many words an answer may have")
        self.options = options

    def __call__(self, question):
        return bp.call_llm(worded(question, self.words), system=self.instruction, llm=self.llm, **self.options)


def answer(messages):
    """A finished reply on the first question, one cut at its token limit on the second."""
    question = messages[-1]["content"].split(" Answer in at most")[0]
    return {"Is 7 prime?": "Yes", "Which is true? (A) 2>3 (B) 3>2": cut(RAMBLE)}[question]


def judged_runs(kind=Asker):
    program = kind(Scripted(answer))
    questions = ["Is 7 prime?", "Which is true? (A) 2>3 (B) 3>2"]
    outs = [program(q) for q in questions]
    bp.backward(outs, ["Score: 1. Correct.", "Score: 0. No option was chosen; the answer is (B)."],
                inputs=questions)
    return program, outs


def reflect_request(program, p):
    return Reflect(program.parameters(), llm=Scripted([])).messages(p)[1]["content"]


def test_reflect_marks_the_cut_reply_and_only_that_one_for_a_value_that_feeds_the_call():
    program, _ = judged_runs(Worded)
    prompt = reflect_request(program, program.words)
    cut_at = prompt.index("(score 0)")
    whole_at = prompt.index("(score 1)")
    note = "stopped at its token limit"
    assert prompt.count(note) == 1
    assert cut_at < prompt.index(note) < whole_at  # the note sits with the cut example (shown worst first)


def test_reflect_shows_a_prompt_the_cut_reply_as_it_came_with_no_note():
    """Told a reply was cut, the 1.5B optimizer model asked the model not to stop at its limit (see reflect.py)."""
    program, _ = judged_runs(Worded)
    prompt = reflect_request(program, program.instruction)
    assert RAMBLE in prompt and "token limit" not in prompt and "unfinished" not in prompt


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
def test_a_reply_the_local_model_cut_short_is_marked_for_optoprime_and_shown_bare_to_reflect(local_llm):
    class Short(Asker):
        def __call__(self, question):
            return bp.call_llm(question, system=self.instruction, llm=self.llm, max_tokens=6, temperature=0)

    program = Short(local_llm)
    questions = ["Explain step by step how a compiler works.", "What is 2 + 3? Answer with the number only."]
    outs = [program(q) for q in questions]
    assert [o.truncated for o in outs] == [True, False]
    bp.backward(outs, ["Score: 0. Unfinished.", "Score: 1. Correct."], inputs=questions)
    assert "token limit" not in reflect_request(program, program.instruction)  # a prompt's request: no note
    teacher = Scripted([json.dumps({"reasoning": "r", "suggestion": {"instruction": "Answer in one line."}})])
    OptoPrime(program.parameters(), llm=teacher).step()
    shown = teacher.prompts[0][1]["content"]
    assert shown.count(CUT_NOTE) == 1 and outs[0].value in shown.split(CUT_NOTE)[0]  # after the cut reply
