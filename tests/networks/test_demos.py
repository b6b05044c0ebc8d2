"""Worked examples in an agent network: kept in the spec, bootstrapped from runs that scored full marks."""

import copy

import pytest
from ann_helpers import player, role

import backprose as bp
from backprose.errors import InvalidSpec
from backprose.llm import Scripted
from backprose.networks import AgentNetwork, NetworkOptimizer
from backprose.optimizers.base import Proposal, Update
from backprose.train import Trainer, exact_match

DEMO = {"input": "Problem: 1 + 1?", "reply": "2"}


def with_demo(spec):
    doc = copy.deepcopy(spec)
    doc["layers"][0]["agents"][0]["demos"] = [DEMO]
    return doc


def test_worked_examples_live_in_the_spec_and_round_trip(spec, tmp_path):
    net = AgentNetwork(with_demo(spec), llm=Scripted(lambda m: "2"))
    assert net.agent("solve", "a").demos.value == [DEMO]
    assert net.spec()["layers"][0]["agents"][0]["demos"] == [DEMO]
    assert "demos" not in net.spec()["layers"][0]["agents"][1]  # none held, none written
    assert all(not p.name.endswith(".demos") for p in net.prompt_parameters())
    net.save(tmp_path / "net.json")
    again = AgentNetwork.from_file(tmp_path / "net.json", llm=Scripted(lambda m: "2"))
    assert again.spec() == net.spec()


def test_a_malformed_worked_example_in_a_spec_names_the_agent(spec):
    doc = copy.deepcopy(spec)
    doc["layers"][0]["agents"][1]["demos"] = [{"input": "q"}]
    with pytest.raises(InvalidSpec, match="agent 'b'.*'reply'"):
        AgentNetwork(doc)


def judged(net, questions=("3 * 4?", "2 + 2?"), feedback=("Score: 0. Expected 13.", "Score: 1. Correct.")):
    outs = [net(q) for q in questions]
    bp.backward(outs, list(feedback))
    return outs


def test_a_run_with_full_marks_becomes_the_worked_example_of_the_agent_in_turn_without_a_model_call(spec):
    llm = player(lambda m: "4" if "2 + 2?" in m[-1]["content"] else "12")
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1)
    judged(net)
    calls = len(llm.prompts)
    [proposal] = opt.propose(1)
    assert len(llm.prompts) == calls  # no gradient, no rewrite: the example is taken, not written
    [(param, value)] = proposal.values.items()
    assert param.name == "answer.writer.demos"  # output side first, as the rewrites go
    assert "2 + 2?" in value[0]["input"] and "3 * 4?" not in value[0]["input"] and value[0]["reply"] == "4"
    opt.apply(proposal)
    net("5 + 5?")
    turns = [m["role"] for m in llm.prompts[-1]]
    assert turns == ["system", "user", "assistant", "user"] and llm.prompts[-1][2]["content"] == "4"


def refuse_and_run_again(net, opt, proposal):
    """The trainer's part after a losing candidate: refuse it, clear the feedback, run the minibatch again."""
    opt.record_refusal(opt.apply(proposal), "not better on the minibatch")
    for p in net.parameters():
        p.zero_feedback()
    judged(net)

def test_a_refused_example_is_not_offered_again_and_the_rewriter_takes_over(spec):
    seen = []
    llm = player(lambda m: "4" if "2 + 2?" in m[-1]["content"] else "12", update=lambda u: seen.append(u) or "NEW")
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=None)
    judged(net)
    [first] = opt.propose(1)
    assert {p.name for p in first.values} == {"solve.a.demos", "solve.b.demos", "answer.writer.demos"}
    refuse_and_run_again(net, opt, first)
    [second] = opt.propose(1)
    assert all(p.name.endswith(".instructions") for p in second.values) and seen


def test_without_a_run_with_full_marks_or_with_demos_0_the_step_rewrites(spec):
    llm = player(lambda m: "12")
    net = AgentNetwork(spec, llm=llm)
    judged(net, feedback=("Score: 0. Expected 13.", "Score: 0.5. Close."))
    [p1] = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1).propose(1)
    assert [p.name for p in p1.values] == ["answer.writer.instructions"]
    for p in net.parameters():
        p.zero_feedback()
    judged(net)
    [p2] = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1, demos=0).propose(1)
    assert [p.name for p in p2.values] == ["answer.writer.instructions"]
    with pytest.raises(ValueError, match="worked examples"):
        NetworkOptimizer(net, llm, demos=-1)


def test_a_full_agent_drops_its_oldest_example_and_two_candidates_are_example_then_rewrite(spec):
    llm = player(lambda m: "4" if "2 + 2?" in m[-1]["content"] else "12")
    net = AgentNetwork(with_demo(spec), llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=None, demos=1)
    judged(net)
    demo, rewrite = opt.propose(2)
    assert len(demo.values[net.agent("solve", "a").demos]) == 1
    assert demo.values[net.agent("solve", "a").demos][0]["reply"] == "4"  # the old one made room
    assert all(p.name.endswith(".instructions") for p in rewrite.values)


def test_the_trainer_keeps_an_example_that_fixes_the_hard_problems_and_it_is_saved(spec, tmp_path):
    # The team solves "easy" problems; it solves hard ones only once it has seen a worked example.
    def agent(messages):
        shown = any(m["role"] == "assistant" for m in messages)
        return "yes" if shown or "easy" in messages[-1]["content"] else "no"

    llm = player(agent)
    net = AgentNetwork(spec, llm=llm)
    train = [{"input": "easy one", "target": "yes"}, {"input": "hard one", "target": "yes"}]
    val = [{"input": "hard two", "target": "yes"}, {"input": "easy two", "target": "yes"}]
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=None)
    result = Trainer(net, train, val, exact_match, opt, steps=1, batch_size=2, concurrency=1).fit()
    step = result.history[0]
    assert step["accepted"] and (step["batch_before"], step["batch_after"]) == (0.5, 1.0)
    assert (result.initial_val, result.final_val) == (0.5, 1.0)
    assert "easy one" in net.agent("solve", "a").demos.value[0]["input"]
    assert not any(role(m) in ("update", "reflect") for m in llm.prompts)  # no rewrite was asked for
    net.save(tmp_path / "net.json")
    again = AgentNetwork.from_file(tmp_path / "net.json", llm=Scripted(agent))
    assert exact_match(again("hard three"), type("E", (), {"target": "yes"})()).score == 1.0


def test_refusing_an_example_update_restores_the_old_examples(spec):
    net = AgentNetwork(with_demo(spec), llm=Scripted(lambda m: "2"))
    a = net.agent("solve", "a")
    opt = NetworkOptimizer(net, demos=2)
    update: Update = opt.apply(Proposal({a.demos: [DEMO, {"input": "x", "reply": "y"}]}))
    assert len(a.demos.value) == 2
    update.revert()
    assert a.demos.value == [DEMO]


def test_demos_only_offers_worked_examples_and_never_asks_the_model_for_a_rewrite(spec):
    llm = player(lambda m: "4" if "2 + 2?" in m[-1]["content"] else "12")
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, per_step=None, demos_only=True)
    prompts = {p.name: p.value for p in net.prompt_parameters()}
    judged(net)
    calls = len(llm.prompts)
    [proposal] = opt.propose(1)
    assert {p.name for p in proposal.values} == {"solve.a.demos", "solve.b.demos", "answer.writer.demos"}
    refuse_and_run_again(net, opt, proposal)
    assert opt.propose(1) == []  # the only example was refused: nothing else may change
    assert "full marks" in opt.no_proposal()
    assert len(llm.prompts) == calls + 6  # the second runs' agent calls only: no gradient, no rewrite
    assert {p.name: p.value for p in net.prompt_parameters()} == prompts


def test_demos_only_needs_room_for_an_example(spec):
    with pytest.raises(ValueError, match="demos_only"):
        NetworkOptimizer(AgentNetwork(spec), None, demos_only=True, demos=0)


def test_the_temperature_goes_with_every_gradient_and_rewrite_request(spec):
    llm = player(lambda m: "12")
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1, temperature=0.7)
    judged(net, feedback=("Score: 0. Expected 13.", "Score: 0. Expected 4."))
    start = len(llm.calls)
    assert opt.propose(1)
    asked = [(role(c.messages), c.options.get("temperature")) for c in llm.calls[start:]]
    assert {r for r, _ in asked} >= {"global", "local", "reflect"}
    assert all(t == 0.7 for _, t in asked), asked
