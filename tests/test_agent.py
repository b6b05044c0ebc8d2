"""Traced LLM calls: prompts are parents of the reply, so feedback reaches them."""

import asyncio

import pytest

import backprose as bp
from backprose.llm import Scripted


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
