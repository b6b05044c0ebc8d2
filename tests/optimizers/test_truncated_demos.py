"""A full-marks run whose reply stopped at its token limit is never kept as a worked example.

A lenient guide can find the right option inside an unfinished ramble; shown as a worked example, that
ramble teaches the small model to ramble on every later input (seen on a real task: 13 of 21 validation
answers named no option once two such runs were kept)."""

import logging

import pytest
from test_labeled_demos import Solver

import backprose as bp
from backprose.llm import Scripted
from backprose.llm.base import Completion
from backprose.networks import AgentNetwork, NetworkOptimizer
from backprose.optimizers.demos import Demos

RAMBLE = "Let's analyze each statement step by step. (A) could be true, but (B) is the one that"


def cut(text):
    return Completion(text, "scripted", completion_tokens=20, finish_reason="length")


def answer(messages):
    """A finished reply on 2+2, one cut at its token limit on 3+3 (which the guide still scores right)."""
    return {"2+2?": "4", "3+3?": cut(RAMBLE)}[messages[-1]["content"]]


def test_call_llm_marks_a_reply_that_stopped_at_its_token_limit():
    program = Solver(Scripted(answer))
    assert program("3+3?").truncated is True
    assert program("2+2?").truncated is False


def test_a_cut_full_marks_run_is_left_out_logged_and_not_banked(caplog):
    program = Solver(Scripted(answer))
    outs = [program(q) for q in ("3+3?", "2+2?")]
    bp.backward(outs, ["Score: 1. Correct.", "Score: 1. Correct."], inputs=["3+3?", "2+2?"])
    opt = Demos(program.parameters(), k=4)
    with caplog.at_level(logging.INFO, logger="backprose.optimizers.demos"):
        [proposal] = opt.propose()
    assert proposal.values[program.demos] == [{"input": "2+2?", "reply": "4"}]
    assert "cut at the model's token limit" in caplog.text and "is the one that" in caplog.text
    assert opt.bank["demos"] == [["2+2?", "4"]]  # a later minibatch cannot bring the ramble back


def test_a_minibatch_whose_only_full_marks_run_was_cut_gets_no_proposal():
    program = Solver(Scripted(answer))
    bp.backward([program("3+3?")], ["Score: 1. Correct."], inputs=["3+3?"])
    assert Demos(program.parameters()).propose() == []


def test_a_cut_full_marks_run_given_its_target_becomes_a_labeled_example():
    program = Solver(Scripted(answer))
    outs = [program(q) for q in ("3+3?", "2+2?")]
    bp.backward(outs, ["Score: 1. Correct.", "Score: 1. Correct."], inputs=["3+3?", "2+2?"],
                references=["6", None])
    [proposal] = Demos(program.parameters(), k=4).propose()
    assert proposal.values[program.demos] == [{"input": "3+3?", "reply": "6"}, {"input": "2+2?", "reply": "4"}]


def rambler(messages):
    """A small model's habits: with a worked example shown it answers in the shown form; alone it rambles,
    and on 3+3 the ramble, cut at the token limit, starts with the right number (a lenient guide takes it)."""
    a = int(messages[-1]["content"].split("+")[0])
    if any(m["role"] == "assistant" for m in messages[:-1]):
        return str(2 * a)
    return cut(f"{2 * a} is what we get if we add {a} and {a}, but let us check") if a == 3 else f"Let me add {a}"


def test_the_trainer_gives_a_cut_run_its_target_so_the_example_is_kept_with_a_finished_reply():
    train = [{"input": f"{a}+{a}?", "target": str(2 * a), "id": f"t{a}"} for a in (3, 5)]
    val = [{"input": "4+4?", "target": "8", "id": "v4"}]

    def lenient(output, example):
        return (1.0, "Correct.") if str(output).split()[0] == example.target else (0.0, "Wrong.")

    program = Solver(Scripted(rambler))
    result = bp.train(program, train, val, lenient, Demos(program.parameters(), k=4), steps=1, batch_size=2,
                      seed=0)
    assert (result.initial_val, result.final_val) == (0.0, 1.0)
    assert {d["input"]: d["reply"] for d in program.demos.value} == {"3+3?": "6", "5+5?": "10"}


@pytest.fixture
def network_spec():
    return {"task": "Add.", "layers": [{"name": "solve", "subtask": "Add the numbers.", "aggregation": "chain",
                                         "agents": [{"id": "a", "role": "You add.", "prompt": "Add."}]}]}


def test_the_network_optimizer_keeps_no_cut_run_either(network_spec):
    def agent(messages):
        return cut(RAMBLE) if "3+3?" in messages[-1]["content"] else "4"

    net = AgentNetwork(network_spec, llm=Scripted(agent))
    opt = NetworkOptimizer(net, Scripted(lambda m: 1 / 0), demos_only=True)
    bp.backward([net("3+3?")], ["Score: 1. Correct."])
    assert opt.propose(1) == []
    for p in net.parameters():
        p.zero_feedback()
    bp.backward([net("2+2?")], ["Score: 1. Correct."])
    [proposal] = opt.propose(1)
    [value] = proposal.values.values()
    assert value[0]["reply"] == "4" and "2+2?" in value[0]["input"]
