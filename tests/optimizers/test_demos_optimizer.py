"""Demos: worked examples taken from the minibatch's full-marks runs, with no model call."""

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers.demos import Demos, add_demos, worked_example


def answer(messages):
    """Right on 2+2 and 3+3, wrong on 5+5; the reply names its input so a test can tell runs apart."""
    question = messages[-1]["content"]
    return {"2+2?": "4 (two and two)", "3+3?": "6 (three and three)", "5+5?": "11 (five and five)"}.get(question, "?")


class Solver(bp.Module):
    def __init__(self, llm, demos=()):
        self.llm = llm
        self.instruction = bp.param("Add.", name="instruction")
        self.demos = bp.param(list(demos), name="demos")

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, demos=self.demos, llm=self.llm)


def judged(program, questions, scores):
    outs = [program(q) for q in questions]
    bp.backward(outs, [f"Score: {s}. {'Correct.' if s >= 1 else 'Wrong.'}" for s in scores], inputs=list(questions))
    return outs


def test_a_full_marks_run_becomes_a_worked_example_with_its_real_input_and_reply_without_a_model_call():
    llm = Scripted(answer)
    program = Solver(llm)
    judged(program, ["5+5?", "2+2?"], [0, 1])
    calls = len(llm.prompts)
    [proposal] = Demos(program.parameters(), llm=Scripted(lambda m: 1 / 0)).propose()
    assert len(llm.prompts) == calls
    assert list(proposal.values) == [program.demos]  # the instruction is not a worked-examples parameter
    assert proposal.values[program.demos] == [{"input": "2+2?", "reply": "4 (two and two)"}]  # not the 5+5 run


def test_the_examples_are_sent_as_earlier_turns_once_applied():
    llm = Scripted(answer)
    program = Solver(llm)
    judged(program, ["2+2?"], [1])
    opt = Demos(program.parameters())
    assert opt.apply(opt.propose()[0]).changed
    program("3+3?")
    assert [m["content"] for m in llm.prompts[-1]] == ["Add.", "2+2?", "4 (two and two)", "3+3?"]


def test_at_most_k_are_kept_the_oldest_going_and_a_held_input_is_not_added_twice():
    old = [{"input": "1+1?", "reply": "2"}, {"input": "2+2?", "reply": "4 (two and two)"}]
    program = Solver(Scripted(answer), demos=old)
    judged(program, ["2+2?", "3+3?"], [1, 1])
    [proposal] = Demos(program.parameters(), k=2).propose()
    assert proposal.values[program.demos] == [old[1], {"input": "3+3?", "reply": "6 (three and three)"}]
    assert add_demos(old, [("2+2?", "other")], 3) == old


def test_no_run_with_full_marks_means_no_proposal():
    program = Solver(Scripted(answer))
    judged(program, ["5+5?"], [0.5])
    assert Demos(program.parameters()).propose() == []


def test_a_refused_list_is_not_proposed_again():
    program = Solver(Scripted(answer))
    judged(program, ["2+2?"], [1])
    opt = Demos(program.parameters())
    opt.record_refusal(opt.apply(opt.propose()[0]), "not better on the minibatch")
    program.demos.value = []
    program.zero_feedback()
    judged(program, ["2+2?"], [1])
    assert opt.propose() == []


def test_an_agent_takes_what_it_read_after_its_instructions_even_on_the_way_to_a_later_output():
    llm = Scripted(lambda messages: "draft" if messages[0]["content"] == "First." else "final")
    first = bp.Agent("First.", "Solve.", llm=llm, name="first", demos=[])
    second = bp.Agent("Second.", "Polish.", llm=llm, demos=[])
    out = second(first("What is 2+2?"))
    assert worked_example(first.demos, out, "What is 2+2?") == ("What is 2+2?", "draft")
    assert worked_example(second.demos, out, "What is 2+2?") == ("draft", "final")
    assert worked_example(bp.param([]), out) is None


def test_a_minibatch_without_full_marks_gets_a_banked_run_from_an_earlier_one_and_the_bank_is_saved():
    program = Solver(Scripted(answer))
    opt = Demos(program.parameters(), k=1)
    judged(program, ["2+2?", "3+3?"], [1, 1])
    opt.record_refusal(opt.apply(opt.propose()[0]), "not better on the minibatch")  # [3+3] refused
    program.demos.value = []
    program.zero_feedback()
    judged(program, ["5+5?"], [0])
    [proposal] = opt.propose()
    assert proposal.values[program.demos] == [{"input": "2+2?", "reply": "4 (two and two)"}]
    again = Demos(Solver(Scripted(answer)).parameters(), k=1)
    again.load_state_dict(opt.state_dict())
    assert again.bank == opt.bank and len(again.bank["demos"]) == 2
