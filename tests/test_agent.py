"""Traced LLM calls: prompts are parents of the reply, so feedback reaches them."""

import asyncio
import contextlib

import pytest

import backprose as bp
from backprose.llm import Scripted
from backprose.trace.graph import shape


def test_call_llm_sends_system_and_prompt_and_traces_both():
    llm = Scripted(["Paris"])
    system = bp.param("Answer in one word.", name="system")
    out = bp.call_llm("Capital of France?", system=system, llm=llm, max_tokens=4)
    assert out.value == "Paris" and out.name == "call_llm"
    assert llm.prompts[0] == [{"role": "system", "content": "Answer in one word."},
                              {"role": "user", "content": "Capital of France?"}]
    assert any(p is system for p in out.parents)
    out.backward("correct")
    assert system.feedback[0].output is out


def test_agent_prompts_are_named_parameters_that_receive_feedback():
    llm = Scripted(["41"])
    agent = bp.Agent(system="Be terse.", instructions="Reply with a number.", llm=llm, name="solver")
    out = agent("6*7?")
    assert [n for n, _ in agent.named_parameters()] == ["system", "instructions"]
    assert [p.name for p in bp.parameters_of(out)] == ["solver.system", "solver.instructions"]
    assert llm.prompts[0][1]["content"] == "Reply with a number.\n\n6*7?"
    out.backward("wrong: 6*7 is 42")
    assert agent.instructions.feedback[0].user_feedback == "wrong: 6*7 is 42"


def test_async_agent_calls_run_concurrently_and_build_separate_graphs():
    llm = Scripted(lambda messages: messages[-1]["content"].upper())
    agent = bp.Agent(llm=llm)

    async def main():
        return await asyncio.gather(*(agent.acall(f"q{i}") for i in range(5)))

    outs = asyncio.run(main())
    assert [o.value for o in outs] == [f"Q{i}" for i in range(5)]
    assert all(o.parents[-1].parents[-1].value == f"q{i}" for i, o in enumerate(outs))


def test_model_errors_become_error_nodes():
    def fail(messages):
        raise RuntimeError("server said no")

    system = bp.param("s")
    with pytest.raises(bp.ExecutionError) as info:
        bp.call_llm("q", system=system, llm=Scripted(fail))
    assert "server said no" in info.value.node.value


@pytest.mark.live
def test_agent_on_the_local_model(local_llm):
    agent = bp.Agent(system="You are a calculator. Reply with digits only.", llm=local_llm,
                     max_tokens=6, temperature=0)
    out = agent("2+3=")
    assert "5" in out.value
    out.backward("good")
    assert len(agent.system.feedback) == 1


@pytest.mark.live
def test_the_local_model_follows_a_worked_example_it_is_shown(local_llm):
    agent = bp.Agent("You answer geography questions.", "Answer in one short line.", llm=local_llm,
                     demos=[{"input": "Capital of France?", "reply": "Capital: PARIS."}], max_tokens=12, temperature=0)
    assert agent("Capital of Italy?").value.startswith("Capital:")  # the shown format, not a bare "Rome"


@pytest.mark.live
def test_a_local_reply_cut_at_its_token_limit_is_marked_truncated_and_a_finished_one_is_not(local_llm):
    long = bp.call_llm("Explain step by step how a compiler works.", llm=local_llm, max_tokens=4, temperature=0)
    short = bp.call_llm("What is 2 + 3? Answer with the number only.", llm=local_llm, max_tokens=8, temperature=0)
    assert long.truncated is True
    assert short.truncated is False and "5" in short.value


def test_worked_examples_go_before_the_input_as_turns_under_the_current_instructions():
    llm = Scripted(["42", "42"])
    agent = bp.Agent(system="Be terse.", instructions="Reply with a number.", llm=llm, name="solver",
                     demos=[{"input": "2*3?", "reply": "6"}])
    out = agent("6*7?")
    assert [n for n, _ in agent.named_parameters()] == ["system", "instructions", "demos"]
    assert llm.prompts[0] == [{"role": "system", "content": "Be terse."},
                              {"role": "user", "content": "Reply with a number.\n\n2*3?"},
                              {"role": "assistant", "content": "6"},
                              {"role": "user", "content": "Reply with a number.\n\n6*7?"}]
    assert "solver.demos" in [p.name for p in bp.parameters_of(out)]
    agent.instructions.value = "Number only."
    agent("1+1?")
    assert llm.prompts[1][1]["content"] == "Number only.\n\n2*3?"  # the example follows the instructions


def test_an_agent_without_worked_examples_sends_no_extra_turns():
    llm = Scripted(["4"])
    agent = bp.Agent(system="Be terse.", llm=llm, demos=[])
    agent("2+2?")
    assert [m["role"] for m in llm.prompts[0]] == ["system", "user"]


@pytest.mark.parametrize("bad", ["6", [{"input": "2*3?"}], [{"input": "2*3?", "reply": 6}],
                                 [{"input": "a", "reply": "b", "note": "c"}]])
def test_malformed_worked_examples_are_refused_with_the_expected_shape(bad):
    with pytest.raises(bp.InvalidUpdate, match="'input'"):
        bp.Agent(demos=bad)
    agent = bp.Agent(demos=[])
    with pytest.raises(bp.InvalidUpdate, match="list|'input'"):
        agent.demos.value = bad
    assert agent.demos.value == []


# --- call_llm and acall_llm are one implementation: the same cases give the same graphs and errors --------
def _model(messages):
    text = messages[-1]["content"]
    if "fail" in text:
        raise RuntimeError("server said no")
    return text.upper()


def _outcome(call):
    try:
        out = call()
    except bp.ExecutionError as err:
        return "ExecutionError", shape(err.node)
    except Exception as err:
        return type(err).__name__, str(err)
    return "ok", shape(out)


CALL_CASES = {
    "plain": lambda: (("hello",), {}),
    "system parameter": lambda: (("hello",), {"system": bp.param("Be brief.", name="system")}),
    "prompt node": lambda: ((bp.param("hi", name="q") + "!",), {"system": "s"}),
    "worked examples": lambda: (("x",), {"demos": bp.param([{"input": "a", "reply": "A"}], name="demos")}),
    "malformed examples": lambda: (("x",), {"demos": bp.Node([{"input": "a"}], name="demos")}),
    "model fails": lambda: (("please fail",), {"system": bp.param("s", name="system")}),
}


@pytest.mark.parametrize("tracing", [True, False])
@pytest.mark.parametrize("case", sorted(CALL_CASES))
def test_call_llm_and_acall_llm_build_the_same_graph_or_raise_the_same_error(case, tracing):
    (args, kwargs), (aargs, akwargs) = CALL_CASES[case](), CALL_CASES[case]()
    sync_llm, async_llm = Scripted(_model), Scripted(_model)
    with contextlib.nullcontext() if tracing else bp.no_trace():
        expected = _outcome(lambda: bp.call_llm(*args, llm=sync_llm, max_tokens=5, **kwargs))
        got = _outcome(lambda: asyncio.run(bp.acall_llm(*aargs, llm=async_llm, max_tokens=5, **akwargs)))
    assert got == expected
    assert sync_llm.prompts == async_llm.prompts
    assert [c.options for c in sync_llm.calls] == [c.options for c in async_llm.calls]


def test_an_agent_builds_the_same_graph_called_sync_or_async():
    def make():
        return bp.Agent("Be terse.", "Reply in capitals.", llm=Scripted(_model), name="solver",
                        demos=[{"input": "a", "reply": "A"}])

    sync_agent, async_agent = make(), make()
    assert shape(asyncio.run(async_agent.acall("q"))) == shape(sync_agent("q"))
    assert sync_agent.llm.prompts == async_agent.llm.prompts
