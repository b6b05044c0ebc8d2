"""Each optimizer takes one real step on the embedded model; where the feedback names the right answer,
the parameter must hold it afterwards, not merely differ."""

from __future__ import annotations

import pytest

import backprose as bp
from backprose.nodes.parameter import speaks_of_itself
from backprose.optimizers import OPRO, OptoPrime, Reflect, TextGrad
from backprose.optimizers.reflect import copied_span, examples_for

pytestmark = pytest.mark.live


@bp.bundle()
def double(v):
    """Multiply the number by two."""
    return v * 2


def test_optoprime_step(local_llm):
    x = bp.param(3, name="x", description="the number to choose")
    out = double(x)
    out.backward("The output is 6 but must be 20: choose x = 10.")
    update = OptoPrime([x], llm=local_llm, budget=2500, max_tokens=120).step()
    assert update.changed, update
    assert x.value == 10, update


def test_textgrad_step(local_llm):
    p = bp.param("Say hi.", name="greeting", description="a greeting shown to the user")
    out = bp.bundle()(lambda s: s.upper())(p)
    opt = TextGrad([p], llm=local_llm, budget=1500, max_tokens=120)
    opt.propagator.max_tokens = 60
    out.backward("Too short: the greeting must mention the word 'welcome'.", propagator=opt.propagator)
    update = opt.step()
    assert update.changed, update
    assert "welcome" in p.value.lower(), update


def test_opro_step(local_llm):
    x = bp.param(1, name="x", description="a whole number; a higher score means closer to the target")
    update = OPRO([x], llm=local_llm, budget=1500, max_tokens=80).step(score=0.1)
    assert update.changed, update
    assert isinstance(x.value, int) and x.value != 1  # nothing names the target: a new whole number


def test_reflect_step(local_llm):
    p = bp.param("Say hi.", name="greeting", description="a greeting shown to the user")
    outs = [bp.bundle()(lambda s, n: f"{s} ({n})")(p, bp.Node(name, name="user")) for name in ("Ann", "Bo")]
    bp.backward(outs, ["Score: 0. Too short: the greeting must welcome the user by name."] * 2)
    update = Reflect([p], llm=local_llm, budget=1500, max_tokens=60).step()
    assert update.changed, update
    assert p.value != "Say hi."  # the feedback names a behaviour (welcome by name), not a text to check


def test_reflect_adopts_only_an_instruction_for_a_system_prompt(local_llm):
    """The natural program's system prompt, rewritten by the real model from the prompt-framed request. The
    0.5B often pastes an example or writes about the prompt; whatever it writes, what is adopted is an
    instruction the program then runs with, and a refusal leaves the prompt as it was, with the reason."""
    p = bp.param("Answer.", name="instruction", description="the system prompt of the one model call that answers "
                 "each input")
    questions = [bp.Node(q, name="question") for q in ("What is 2 plus 3?", "What is 7 minus 4?")]
    outs = [bp.call_llm(q, system=p, llm=local_llm, temperature=0, max_tokens=24) for q in questions]
    bp.backward(outs, [f"Score: 0. The reply must be only the number {n}, with no words." for n in (5, 3)])
    opt = Reflect([p], llm=local_llm, budget=1500, max_tokens=80)
    assert opt.messages(p)[0]["content"].startswith("You write the instructions")
    update = opt.step()
    if update.changed:
        assert speaks_of_itself(p.value, p.name, "Answer.", p.description) is None, p.value
        assert copied_span(p.value, "Answer.", examples_for(p)) is None, p.value
        assert isinstance(bp.call_llm("What is 1 plus 1?", system=p, llm=local_llm, max_tokens=24).value, str)
    else:
        assert p.value == "Answer." and ("refused" in str(update) or "unusable" in str(update)), update
