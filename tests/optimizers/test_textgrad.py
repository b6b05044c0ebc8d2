"""TextGrad: per-edge gradients as a propagator, bounded reduction, momentum and memory in the prompt."""

from __future__ import annotations

import asyncio
import json
import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from optimizer_graphs import chain, extend

import backprose as bp
from backprose.llm import Scripted, track_usage
from backprose.llm.base import ClientBase, Completion, messages_tokens
from backprose.optimizers import TextGrad, TextualGradients
from backprose.optimizers.reduce import default_score, reduce_feedback
from backprose.trace.backward import Feedback


def responder(value="New value."):
    def answer(messages):
        if messages[0]["content"].startswith("You improve one variable"):
            return json.dumps({"reasoning": "r", "value": value})
        return "Make it shorter."
    return answer


def test_one_gradient_call_per_edge_on_a_path_to_a_parameter():
    p, out = chain(5)
    llm = Scripted(responder())
    opt = TextGrad([p], llm=llm)
    with track_usage() as usage:
        out.backward("too long", propagator=opt.propagator)
    assert usage.calls == 5  # the constant `piece` inputs get no call
    assert [f.text for f in p.feedback] == ["Make it shorter."]
    with track_usage() as usage:
        update = opt.step()
    assert usage.calls == 1 and p.value == "New value." and update.changed


def test_gradient_and_update_prompts_golden(golden):
    p = bp.param("Answer.", name="system", description="the system prompt")
    out = extend(p, bp.Node("What is 2+2?", name="question"))
    llm = Scripted(responder("Answer in one word."))
    opt = TextGrad([p], llm=llm, constraints=["Stay under 20 words."], examples=["Answer: 4"])
    out.backward("score: 0.2 The answer is too long.", propagator=opt.propagator)
    opt.step()
    golden("textgrad_gradient.txt", llm.prompts[0][1]["content"])
    golden("textgrad_update.txt", llm.prompts[1][1]["content"])


def test_gradients_of_one_node_run_concurrently():
    a = bp.param("a", name="a")
    b = bp.param("b", name="b")
    out = bp.bundle()(lambda x, y: x + y)(a, b)
    barrier = threading.Barrier(2, timeout=5)

    class Concurrent(ClientBase):  # Scripted answers one call at a time; this one does not
        model = "concurrent"

        def _call(self, request):
            barrier.wait()  # both gradient calls must be in flight at once
            return Completion("change", self.model)

    out.backward("wrong", propagator=TextualGradients(Concurrent()))
    assert a.feedback[0].text == b.feedback[0].text == "change"


def test_minibatch_feedback_is_grouped_lowest_score_first_and_skips_good_ones():
    p = bp.param("Be brief.", name="prompt")
    outs = [extend(p, bp.Node(f"q{i}", name="q")) for i in range(4)]
    llm = Scripted(responder())
    opt = TextGrad([p], llm=llm, skip_above=0.9)
    bp.backward(outs, ["score: 0.5 meh", "score: 0.1 bad", "score: 0.95 great", "score: 0.3 poor"],
                propagator=opt.propagator)
    messages = opt.messages(p)
    user = messages[1]["content"]
    assert user.index("score 0.1") < user.index("score 0.3") < user.index("score 0.5")
    assert "0.95" not in user and "1 examples scored 0.9 or better" in user


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), length=st.integers(0, 3000), limit=st.integers(300, 20000))
def test_reduction_stays_within_its_limit(n, length, limit):
    outputs = [bp.Node(i) for i in range(n)]
    records = [Feedback(f"score: {i / n:.3f} " + "x" * length, o, "", extra={"score": i / n})
               for i, o in enumerate(outputs)]
    text = reduce_feedback(records, limit)
    assert len(text) <= limit
    if n > 1 and length > 0:
        assert text.startswith("Example 1 (score 0)")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 30), budget=st.integers(1500, 6000), length=st.integers(0, 20000))
def test_every_prompt_stays_within_the_budget(n, budget, length):
    p = bp.param("p" * length, name="prompt")
    outs = [extend(p, bp.Node("q" * length, name="q")) for _ in range(n)]
    llm = Scripted(lambda m: "g" * 3000 if not m[0]["content"].startswith("You improve") else "not json")
    opt = TextGrad([p], llm=llm, budget=budget, momentum=3, gradient_memory=3)
    bp.backward(outs, [f"score: {i} " + "f" * length for i in range(n)], propagator=opt.propagator)
    opt.step()
    assert all(messages_tokens(m) <= budget for m in llm.prompts)


def test_momentum_and_gradient_memory_reach_the_prompt_and_stay_bounded():
    p = bp.param("v0", name="prompt")
    values = iter(["v1", "v2", "v3", "v4"])
    grads = iter([f"gradient {k}" for k in range(20)])

    def answer(messages):
        if messages[0]["content"].startswith("You improve"):
            return json.dumps({"reasoning": "r", "value": next(values)})
        return next(grads)

    llm = Scripted(answer)
    opt = TextGrad([p], llm=llm, momentum=2, gradient_memory=2)
    for _ in range(4):
        extend(p, bp.Node("q", name="q")).backward("bad", propagator=opt.propagator)
        opt.step()
        opt.zero_feedback()
    last = llm.prompts[-1][1]["content"]
    assert "<PAST_VALUE>v1</PAST_VALUE>" in last and "<PAST_VALUE>v2</PAST_VALUE>" in last
    assert "v0" not in last  # bounded: only the last two values
    assert "<PAST_FEEDBACK>gradient 1</PAST_FEEDBACK>" in last and "gradient 0<" not in last
    assert len(opt.past_values[p]) == 2 and len(opt.past_gradients[p]) == 2
    state = json.loads(json.dumps(opt.state_dict()))
    again = TextGrad([p], llm=llm, momentum=2, gradient_memory=2)
    again.load_state_dict(state)
    assert list(again.past_values[p]) == ["v2", "v3"]


def test_updates_of_several_parameters_run_concurrently_and_async():
    a = bp.param("a", name="a")
    b = bp.param("b", name="b")
    out = bp.bundle()(lambda x, y: x + y)(a, b)
    llm = Scripted(responder("z"))
    opt = TextGrad([a, b], llm=llm)
    out.backward("wrong", propagator=opt.propagator)
    update = asyncio.run(opt.astep())
    assert a.value == b.value == "z" and len(update.accepted) == 2


def test_n_candidates():
    p, out = chain(1)
    answers = iter(['{"reasoning": "", "value": "one"}', '{"reasoning": "", "value": "two"}'])
    opt = TextGrad([p], llm=Scripted(lambda m: next(answers) if "improve one" in m[0]["content"] else "g"))
    out.backward("bad", propagator=opt.propagator)
    proposals = opt.propose(2)
    assert [list(x.values.values()) for x in proposals] == [["one"], ["two"]]
    assert p.value == "Be brief."


def test_default_score():
    assert default_score("Score: 0.25 too long") == 0.25
    assert default_score("no number here") is None
