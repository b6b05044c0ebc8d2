"""OptoPrime: the rendered prompt, the token budget, memory, candidates, typed updates, state and replay."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimizer_graphs import chain, extend, numeric_graph

import backprose as bp
from backprose.llm import Replay, Scripted, track_usage
from backprose.llm.base import messages_tokens
from backprose.optimizers import OptoPrime
from backprose.optimizers.problem import Layout, fit
from backprose.testing import replay_key


def reply(**values):
    return json.dumps({"reasoning": "because", "suggestion": values})


def test_prompt_golden(golden):
    x, out = numeric_graph()
    out.backward("The output should be 50; it is too low.")
    llm = Scripted([reply(x=7)])
    OptoPrime([x], llm=llm).step()
    golden("optoprime_system.txt", llm.prompts[0][0]["content"])
    golden("optoprime_user.txt", llm.prompts[0][1]["content"])


def test_step_updates_and_reports_usage():
    x, out = numeric_graph()
    out.backward("too low")
    opt = OptoPrime([x], llm=Scripted([reply(x=7)]))
    update = opt.step()
    assert x.value == 7.0 and [(c.old, c.new) for c in update.accepted] == [(3.0, 7.0)]
    assert update.usage["calls"] == 1 and update.reasoning == "because"
    assert [e["kind"] for e in opt.log] == ["prompt", "update"]
    update.revert()
    assert x.value == 3.0


def test_out_of_bounds_value_is_retried_then_refused_with_reason():
    x, out = numeric_graph()
    out.backward("much higher")
    llm = Scripted([reply(x=500), reply(x=400)])
    update = OptoPrime([x], llm=llm).step()
    assert "[-100, 100]" in llm.prompts[1][-1]["content"]  # the retry said why
    assert x.value == 3.0 and update.rejected and "[-100, 100]" in update.rejected[0].reason


def test_frozen_parameters_are_not_offered():
    x, out = numeric_graph()
    x.trainable = False
    out.backward("too low")
    assert OptoPrime([x], llm=Scripted([])).step().reasoning == "no proposal"


def test_projection_is_applied():
    p = bp.param("Hello", name="greeting", projection=lambda s: s.strip().lower())
    out = bp.bundle()(lambda s: s + "!")(p)
    out.backward("shout less")
    OptoPrime([p], llm=Scripted([reply(greeting="  HI THERE ")])).step()
    assert p.value == "hi there"


def test_bad_code_is_rejected_and_good_code_adopted():
    @bp.bundle(trainable=True)
    def double(v):
        return v + v

    out = double(3)
    out.backward("should triple")
    name = double.code.name
    bad = reply(**{name: "def double(v, w):\n    return v * 3\n"})
    llm = Scripted([bad, bad])
    update = OptoPrime([double.code], llm=llm).step()
    assert update.rejected and "signature" in update.rejected[0].reason
    assert "return v + v" in double.code.value
    out = double(3)
    out.backward("should triple")
    OptoPrime([double.code], llm=Scripted([reply(**{name: "def double(v):\n    return v * 3\n"})])).step()
    assert "v * 3" in double.code.value


def test_array_parameter_round_trip():
    w = bp.param(np.zeros(2), name="w")
    out = bp.bundle()(lambda a: float(a.sum()))(w)
    out.backward("sum should be 3")
    OptoPrime([w], llm=Scripted([reply(w=[1, 2])])).step()
    assert np.array_equal(w.value, [1.0, 2.0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 400), value_len=st.integers(0, 3000), budget=st.integers(1500, 9000),
       prompt_len=st.integers(1, 20000))
def test_prompt_never_exceeds_the_budget(n, value_len, budget, prompt_len):
    p, out = chain(n, value_len, "p" * prompt_len)
    out.backward("make it shorter " * 50)
    llm = Scripted(["garbage", "garbage"])  # also checks the retry stays within the budget
    OptoPrime([p], llm=llm, budget=budget).step()
    assert all(messages_tokens(m) <= budget for m in llm.prompts)


def test_big_graph_is_bounded_and_says_what_it_left_out():
    p, out = chain(2000, 200)
    out.backward("too long")
    llm = Scripted([reply(prompt="Short.")])
    OptoPrime([p], llm=llm, budget=3000).step()
    user = llm.prompts[0][1]["content"]
    assert messages_tokens(llm.prompts[0]) <= 3000
    assert "#Notes" in user and "omitted" in user and "(text) prompt = Be brief." in user
    assert p.value == "Short."


def test_repeated_ops_collapse_before_nodes_are_dropped():
    p = bp.param("Be brief.", name="prompt")
    v = p
    for i in range(30):
        v = extend(bp.Node(f"piece {i}", name="piece"), v)  # values stay short
    v.backward("too long")
    layout = Layout([p], [v], [(v, "too long")])
    full = fit(layout, 10**9)
    assert not full.notes
    shrunk = fit(layout, full.size() - 1)
    assert shrunk.size() < full.size()
    assert any("collapsed" in n for n in shrunk.notes) and not any("omitted" in n for n in shrunk.notes)
    assert any("more calls of extend collapsed" in line for line in shrunk.code)
    assert shrunk.code[0] == full.code[0] and shrunk.code[-1] == full.code[-1]


def test_memory_is_bounded_and_reaches_the_prompt():
    x = bp.param(1.0, name="x")
    opt = OptoPrime([x], llm=Scripted([reply(x=v) for v in (2, 3, 4, 5)]), memory_size=2)
    for k in range(4):
        out = square(x)
        out.backward(f"feedback number {k}")
        opt.step()
        opt.zero_feedback()
    assert len(opt.memory) == 2
    last = opt.llm.prompts[-1][1]["content"]
    assert "#Memory" in last and "feedback number 2" in last and "feedback number 1" in last
    assert "feedback number 0" not in last.split("#Memory")[1]
    state = opt.state_dict()
    again = OptoPrime([x], llm=Scripted([]), memory_size=2)
    again.load_state_dict(json.loads(json.dumps(state)))
    assert list(again.memory) == list(opt.memory)


def test_n_candidates_use_distinct_temperatures_and_samples():
    x, out = numeric_graph()
    out.backward("too low")
    llm = Scripted([reply(x=4), reply(x=5), reply(x=6)])
    proposals = OptoPrime([x], llm=llm).propose(3)
    assert [list(p.values.values()) for p in proposals] == [[4], [5], [6]]
    temps = [c.options["temperature"] for c in llm.calls]
    assert temps == sorted(temps) and len(set(temps)) == 3
    assert [c.sample_index for c in llm.calls] == [0, 1, 2]
    assert x.value == 3.0  # proposing changes nothing


def test_astep_matches_step():
    x, out = numeric_graph()
    out.backward("too low")
    update = asyncio.run(OptoPrime([x], llm=Scripted([reply(x=9)])).astep())
    assert x.value == 9.0 and update.changed


def test_template_override_from_dict_and_folder(tmp_path):
    x, out = numeric_graph()
    out.backward("too low")
    llm = Scripted([reply(x=5), reply(x=6)])
    OptoPrime([x], llm=llm, templates={"optoprime_system.j2": "Custom system."}).step()
    assert llm.prompts[0][0]["content"].startswith("Custom system.")
    (tmp_path / "optoprime_user.j2").write_text("Variables: {% for v in variables %}{{ v.name }}{% endfor %}")
    out = square(x)
    out.backward("again")
    OptoPrime([x], llm=llm, templates=tmp_path).step()
    assert llm.prompts[1][1]["content"] == "Variables: x"
    with pytest.raises(bp.BackproseError, match="no prompt template named"):
        OptoPrime([x], templates={"nope.j2": ""})


def test_whole_run_replays_exactly():
    """A recorded run (replies keyed by request hash) replays to the same values and prompts."""
    def run(llm):
        x = bp.param(1.0, name="x")
        for target in (10, 20):
            out = square(x)
            out.backward(f"make the square {target}")
            opt = OptoPrime([x], llm=llm, memory_size=0)
            opt.step()
            opt.zero_feedback()
        return x.value

    answers = iter([reply(x=3), reply(x=4.5)])
    scripted = Scripted(lambda messages: next(answers))
    first = run(scripted)
    recorded = {replay_key(c): t for c, t in zip(scripted.calls, [reply(x=3), reply(x=4.5)], strict=True)}
    with track_usage() as usage:
        second = run(Replay(recorded))
    assert first == second == 4.5 and usage.calls == 2


@bp.bundle()
def square(v):
    """Square a number."""
    return v * v


def test_agent_prompts_are_optimized_through_a_traced_llm_call():
    agent = bp.Agent(system="Be verbose.", llm=Scripted(["a very long answer"] * 2))
    out = agent("What is 2+2?")
    out.backward("Too long: answer with the number only.")
    opt_llm = Scripted([reply(**{"agent.system": "Answer with the number only."})])
    update = OptoPrime(agent.parameters(), llm=opt_llm).step()
    assert agent.system.value == "Answer with the number only." and update.changed
    user = opt_llm.prompts[0][1]["content"]
    assert "call_llm" in user and "a very long answer" in user and "Too long" in user
