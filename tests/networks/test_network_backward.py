import json

from ann_helpers import player, role

import backprose as bp
from backprose.llm import Scripted
from backprose.llm.base import Completion
from backprose.networks import AgentNetwork, NetworkGradients, NetworkOptimizer, read_run
from backprose.optimizers.problem import CUT_NOTE
from backprose.train import Trainer, exact_match
from tests.reflect_requests import reply_key


def solver(messages):
    return "12"


def judged(net, questions=("3 * 4?", "2 + 2?"), feedback=("Score: 0. Expected 13.", "Score: 1. Correct.")):
    outs = [net(q) for q in questions]
    bp.backward(outs, list(feedback))
    return outs


def texts(p):
    return [fb.text for fb in p.feedback]


def test_read_run_recovers_each_layer_from_the_graph(spec):
    net = AgentNetwork(spec, llm=player(solver))
    out = net("3 * 4?")
    run = read_run(net, out, "Score: 0")
    assert list(run.layers) == ["solve", "answer"]
    assert run.layers["solve"].replies == {"a": "12", "b": "12"}
    assert "3 * 4?" in run.layers["solve"].input and "12" in run.layers["answer"].input
    assert run.layers["answer"].output == "12" and run.score == 0


def test_global_and_local_gradients_reach_the_right_parameters(spec):
    llm = player(solver, critique="the answer layer adds nothing")
    net = AgentNetwork(spec, llm=llm)
    outs = judged(net)
    for p in net.parameters():
        p.zero_feedback()
    grads = NetworkGradients(llm).backward(net, outs, ["Score: 0. Expected 13.", "Score: 1. Correct."])
    assert grads.critique == "the answer layer adds nothing"
    assert texts(net.structure) == ["the answer layer adds nothing"]
    a, b, w = net.agent("solve", "a"), net.agent("solve", "b"), net.agent("answer", "writer")
    assert texts(a.instructions) == ["Layer solve: solve must be exact\nsolve/a: show the working"]
    assert texts(b.system) == ["Layer solve: solve must be exact\nsolve/b: show the working"]
    assert texts(w.instructions) == ["Layer answer: answer must be exact\nanswer/writer: show the working"]
    assert texts(net.aggregator("answer")) == ["Layer answer: answer must be exact"]
    record = a.instructions.feedback[0]
    assert record.output is outs[0] and record.extra == {"score": 0.0, "gradient": "local"}
    kinds = [role(m) for m in llm.prompts[-3:]]
    assert kinds == ["global", "local", "local"]
    local_prompt = llm.prompts[-1][-1]["content"]
    assert "the answer layer adds nothing" in local_prompt  # local gradients see the global one
    assert local_prompt.index("Expected 13") < local_prompt.index("Correct.")  # worst run first


def recording_update():
    """An optimizer stand-in that answers v1, v2, ... and keeps every prompt it was shown."""
    seen = []

    def update(user):
        seen.append(user)
        return f"v{len(seen)}"

    return seen, update


def test_optimizer_step_rewrites_prompts_with_momentum(spec):
    seen, update = recording_update()
    llm = player(solver, update=update)
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, momentum=2, gradient_memory=2, demos=0)
    judged(net)
    update1 = opt.step()
    assert {c.name for c in update1.accepted} == {"solve.a.instructions", "solve.b.instructions",
                                                 "answer.writer.instructions"}
    assert net.agent("solve", "a").instructions.value.startswith("v")
    assert "solve/a: show the working" in next(u for u in seen if "Compute." in u)
    opt.zero_feedback()
    judged(net)
    opt.step()
    second = seen[3:]
    assert any("Compute." in u for u in second)  # momentum: the previous value is shown


def test_reflect_rewrites_each_prompt_from_its_runs_with_the_local_gradient_as_advice(spec):
    seen, update = recording_update()
    llm = player(solver, update=update)
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", demos=0)
    judged(net)
    update1 = opt.step()
    assert {c.name for c in update1.accepted} == {"solve.a.instructions", "solve.b.instructions",
                                                 "answer.writer.instructions"}
    prompt = next(u for u in seen if reply_key(u) == "solve.a.instructions")
    assert '"""\nCompute.\n"""' in prompt  # its current value
    # both runs as examples, worst first, with the question that reached the prompt and the grader's words
    assert prompt.index("Expected 13") < prompt.index("Correct.") and "3 * 4?" in prompt and "2 + 2?" in prompt
    advice = prompt[prompt.index("A reviewer who read these runs advises:"):]
    assert "solve/a: show the working" in advice and "solve must be exact" in advice
    assert opt.state_dict()["prompts"] is not None


def test_an_unknown_rewriter_is_refused_with_the_choices(spec):
    net = AgentNetwork(spec, llm=player(solver))
    try:
        NetworkOptimizer(net, rewriter="opro")
    except ValueError as exc:
        assert "('textgrad', 'reflect')" in str(exc)
    else:
        raise AssertionError("an unknown rewriter was accepted")


def test_structural_edits_apply_and_revert(spec):
    edits = [{"op": "replace", "path": "/layers/0/aggregation", "value": "critic"},
             {"op": "add", "path": "/layers/0/agents/-", "value": {"id": "c", "role": "You verify.",
                                                                   "prompt": "Check it."}}]
    llm = player(solver, edits=edits)
    net = AgentNetwork(spec, llm=llm)
    before = net.state_dict()
    opt = NetworkOptimizer(net, llm, targets=())
    judged(net)
    update = opt.step()
    assert net.layers[0]["aggregation"] == "critic" and net.layers[0]["agents"] == ["a", "b", "c"]
    assert net.agent("solve", "c").instructions.value == "Check it."
    assert "solve.c.system" in net.state_dict()
    update.revert()
    assert net.state_dict() == before


def test_a_malformed_edit_never_touches_the_network(spec):
    for edits in ([{"op": "remove", "path": "/layers/5"}],
                  [{"op": "replace", "path": "/layers/0/aggregation", "value": "telepathy"}],
                  [{"op": "remove", "path": "/layers/0"}, {"op": "remove", "path": "/layers/0"}]):
        llm = player(solver, edits=edits)
        net = AgentNetwork(spec, llm=llm)
        before = net.spec()
        opt = NetworkOptimizer(net, llm, targets=())
        judged(net)
        assert opt.propose() == []
        assert net.spec() == before
        assert "edits refused" in opt.log[-1]["notes"][0]


def prompt_of(messages):
    return messages[-1]["content"]


def test_an_update_that_lowers_validation_is_rejected(spec):
    # With the rewritten prompt the team answers the training question right and the validation one wrong.
    def agent(messages):
        new = "NEW" in prompt_of(messages)
        if "train" in prompt_of(messages):
            return "yes" if new else "no"
        return "no" if new else "yes"

    llm = player(agent)
    net = AgentNetwork(spec, llm=llm)
    trainer = Trainer(net, [{"input": "train q", "target": "yes"}], [{"input": "val q", "target": "yes"}],
                      exact_match, NetworkOptimizer(net, llm), steps=1, concurrency=1)
    result = trainer.fit()
    step = result.history[0]
    assert step["batch_after"] > step["batch_before"]
    assert not step["accepted"] and "lowers the validation score" in step["reason"]
    assert net.agent("solve", "a").instructions.value == "Compute."
    assert result.final_val == result.initial_val == 1.0


def test_trainer_accepts_a_structural_edit_that_helps_and_the_result_saves(spec, tmp_path):
    # agent b is wrong; a vote between a and b ties to a only after a third agent that agrees with a joins.
    def agent(messages):
        return {"You are a calculator.": "no", "You are a checker.": "yes", "You verify.": "yes"}.get(
            messages[0]["content"], prompt_of(messages).rsplit("\n", 1)[-1])

    edits = [{"op": "add", "path": "/layers/0/agents/-", "value": {"id": "c", "role": "You verify.",
                                                                   "prompt": "Check."}}]
    llm = player(agent, edits=edits)
    net = AgentNetwork(spec, llm=llm)
    data = [{"input": "q", "target": "yes"}]
    result = Trainer(net, data, data, exact_match, NetworkOptimizer(net, llm, targets=()), steps=1,
                     concurrency=1, run_dir=tmp_path / "run").fit()
    assert result.history[0]["accepted"] and result.final_val == 1.0 > result.initial_val
    assert net.layers[0]["agents"] == ["a", "b", "c"]
    net.save(tmp_path / "net.json")
    again = AgentNetwork.from_file(tmp_path / "net.json", llm=Scripted(agent))
    assert again.spec() == net.spec()
    assert exact_match(again("q"), type("E", (), {"target": "yes"})()).score == 1.0
    assert json.loads((tmp_path / "run" / "best.json").read_text())["solve.c.system"]["value"] == "You verify."


def test_per_step_rewrites_one_prompt_in_turn_from_the_output_side_with_its_layers_local_gradient(spec):
    seen, update = recording_update()
    llm = player(solver, update=update)
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1, demos=0)
    order = []
    for _ in range(4):
        opt.zero_feedback()
        judged(net)
        before = len(llm.prompts)
        order += [c.name for c in opt.step().accepted]
        locals_asked = [m for m in llm.prompts[before:] if role(m) == "local"]
        assert len(locals_asked) == 1  # only the rewritten prompt's layer gets a local gradient
    assert order == ["answer.writer.instructions", "solve.b.instructions", "solve.a.instructions",
                     "answer.writer.instructions"]
    state = json.loads(json.dumps(opt.state_dict()))
    again = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1, demos=0)
    again.load_state_dict(state)
    assert again.turn == opt.turn == 1


def test_per_step_must_be_a_positive_count(spec):
    net = AgentNetwork(spec, llm=player(solver))
    for bad in (0, -1, 1.5, True):
        try:
            NetworkOptimizer(net, per_step=bad)
        except ValueError as exc:
            assert "per_step" in str(exc) and "None for all" in str(exc)
        else:
            raise AssertionError(f"per_step={bad!r} was accepted")


def test_edits_that_change_nothing_propose_no_structure(spec):
    llm = player(solver, edits=[{"op": "replace", "path": "/layers/0/aggregation", "value": "vote"}])
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, targets=())
    judged(net)
    assert opt.propose() == []
    assert opt.log[-1]["notes"] == ["structure: the proposed edits change nothing"]


def test_the_prompt_rewriter_knows_what_the_trainer_refused(spec):
    seen, update = recording_update()
    llm = player(solver, update=update)
    net = AgentNetwork(spec, llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter="reflect", per_step=1, demos=0)
    writer = net.agent("answer", "writer").instructions
    opt.record_refusal(bp.optimizers.Update([bp.optimizers.Change(writer, "Give the number.", "v9", True)]),
                       "not better on the minibatch (0.000 <= 0.500)")
    judged(net)
    opt.step()
    prompt = next(u for u in seen if reply_key(u) == "answer.writer.instructions")
    assert '"""v9""" (not better on the minibatch (0.000 <= 0.500))' in prompt


def reflect_prompt(spec, agent, who):
    """The prompt Reflect writes for agent `who`'s instructions after one judged run of the network."""
    seen, update = recording_update()
    llm = player(agent, update=update)
    net = AgentNetwork(spec, llm=llm)
    judged(net)
    NetworkOptimizer(net, llm, rewriter="reflect", per_step=3, demos=0).step()
    return next(u for u in seen if reply_key(u) == f"{who}.instructions")


def test_reflect_shows_each_agent_its_own_reply_with_the_start_and_the_end_kept(spec):
    worked = "First I multiply. " + "x" * 600 + " So the answer is 12."

    def agent(messages):
        return "12" if messages[0]["content"] == "You write final answers." else worked

    solver_prompt = reflect_prompt(spec, agent, "solve.a")
    reply = solver_prompt.split("reply to this prompt: ", 1)[1].split("\n", 1)[0]
    assert reply.startswith("First I multiply.") and reply.endswith("So the answer is 12.") and "chars cut" in reply
    writer_prompt = reflect_prompt(spec, agent, "answer.writer")
    assert "reply to this prompt" not in writer_prompt  # its reply is the judged output itself


def test_reflect_shows_an_agent_what_its_own_call_read_not_its_teammates_reply(spec):
    def agent(messages):
        return {"You are a calculator.": "calc says 12", "You are a checker.": "check says 12"}.get(
            messages[0]["content"], "12")

    a_prompt = reflect_prompt(spec, agent, "solve.a")
    assert a_prompt.count("  input: ") == 2 and "3 * 4?" in a_prompt and "2 + 2?" in a_prompt  # one per example
    assert "check says 12" not in a_prompt  # b's reply joins a's only at the vote, after a's call
    assert "reply to this prompt: calc says 12" in a_prompt


def test_a_layer_review_marks_the_agent_whose_reply_stopped_at_its_token_limit(spec):
    def agent(messages):  # the checker (agent b of layer solve) rambles past its token limit
        if "checker" in messages[0]["content"]:
            return Completion("Let me check it step by step: first the", "scripted", finish_reason="length")
        return "12"

    llm = player(agent)
    net = AgentNetwork(spec, llm=llm)
    out = net("3 * 4?")
    NetworkGradients(llm).backward(net, [out], ["Score: 0. Expected 13."])
    [local] = [m[-1]["content"] for m in llm.prompts if role(m) == "local" and 'Layer "solve"' in m[-1]["content"]]
    replies = [line.strip() for line in local.splitlines() if line.strip().startswith(("[a]", "[b]"))]
    assert [r.endswith(CUT_NOTE) for r in replies] == [r.startswith("[b]") for r in replies] == [False, True]
