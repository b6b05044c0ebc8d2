"""Feedback is never lost in silence: a step on parameters that got no feedback says so, naming each one and,
when it is known, the line where its value left the graph; a model reply that is not JSON is never adopted;
unknown constructor options are refused with the close match; every refusal, retry and skip is logged."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import warnings

import pytest
from optimizer_graphs import extend

import backprose as bp
from backprose.errors import NoFeedbackWarning, UnknownOption
from backprose.llm import Scripted
from backprose.optimizers import OPRO, OptoPrime, Reflect, TextGrad
from backprose.optimizers.base import Optimizer, Proposal

PER_PARAMETER = [OptoPrime, TextGrad, Reflect]


def _here() -> int:
    return inspect.currentframe().f_back.f_lineno


def leaked_run():
    """The user's mistake: the prompt is pasted into an f-string, so the graph never sees `system`."""
    system = bp.param("Answer briefly.", name="system", description="the system prompt")
    line = _here() + 1
    prompt = f"{system}\nQuestion: 2 + 2?"
    out = extend(bp.Node(prompt, name="prompt"), "answer: 5")
    out.backward("Wrong: the answer is 4.")
    return system, f"{__file__}:{line}"


@pytest.mark.parametrize("kind", PER_PARAMETER)
def test_a_step_on_a_parameter_that_left_the_graph_warns_with_its_line(kind, caplog):
    system, where = leaked_run()
    llm = Scripted([])  # no call may be made
    caplog.set_level(logging.INFO, logger="backprose")
    with pytest.warns(NoFeedbackWarning) as seen:
        update = kind([system], llm=llm).step()
    message = str(seen[0].message)
    assert "'system'" in message and where in message and "f-string" in message
    assert seen[0].filename == __file__  # the warning points at the user's call, not into the library
    assert not update.changed and system.value == "Answer briefly."
    assert "no feedback reached 'system'" in repr(update) and where in repr(update)
    assert any(r.name.startswith("backprose") and r.levelno == logging.WARNING and where in r.getMessage()
               for r in caplog.records)
    assert any("step skipped" in r.getMessage() for r in caplog.records)


def test_the_async_step_warns_too():
    system, where = leaked_run()
    with pytest.warns(NoFeedbackWarning, match="system"):
        update = asyncio.run(OptoPrime([system], llm=Scripted([])).astep())
    assert where in repr(update)


def test_a_parameter_never_used_is_named_even_without_a_known_line():
    p = bp.param("Be brief.", name="style")
    with pytest.warns(NoFeedbackWarning, match="no feedback reached 'style'"):
        update = TextGrad([p], llm=Scripted([])).step()
    assert repr(update).startswith("Update(no change: no feedback reached 'style'")


def test_one_leaked_parameter_is_named_while_the_others_train():
    system, where = leaked_run()
    style = bp.param("Be brief.", name="style", description="style")
    extend(style, "x").backward("Be warmer.")
    llm = Scripted([json.dumps({"reasoning": "r", "suggestion": {"style": "Be warm."}})])
    with pytest.warns(NoFeedbackWarning) as seen:
        update = OptoPrime([system, style], llm=llm).step()
    assert "'system'" in str(seen[0].message) and "'style'" not in str(seen[0].message)
    assert update.changed and style.value == "Be warm."


def test_a_step_with_feedback_everywhere_does_not_warn():
    style = bp.param("Be brief.", name="style", description="style")
    extend(style, "x").backward("Be warmer.")
    llm = Scripted([json.dumps({"reasoning": "r", "suggestion": {"style": "Be warm."}})])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert OptoPrime([style], llm=llm).step().changed


def test_opro_without_score_or_feedback_warns_but_still_proposes():
    system, where = leaked_run()
    llm = Scripted([json.dumps({"reasoning": "r", "suggestion": {"system": "Answer with the number only."}})])
    with pytest.warns(NoFeedbackWarning, match="system"):
        update = OPRO([system], llm=llm).step()
    assert update.changed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OPRO([system], llm=Scripted([json.dumps({"reasoning": "r", "suggestion": {"system": "x"}})])).step(score=0.5)


# --- a reply without JSON is never adopted ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*PER_PARAMETER, OPRO])
def test_a_text_reply_without_json_is_never_adopted(kind, caplog):
    p = bp.param("Be brief.", name="style", description="how replies sound")
    extend(p, "x").backward("Be warmer.")
    caplog.set_level(logging.INFO, logger="backprose")
    llm = Scripted(["Be warm and kind.", "Be warm and kind, really."])  # plain text, twice
    update = kind([p], llm=llm).step()
    assert p.value == "Be brief." and not update.changed
    assert "unusable" in repr(update) or "refused" in repr(update)
    assert any("asking again" in r.getMessage() for r in caplog.records)  # the retry is logged
    assert any("stayed unusable" in r.getMessage() for r in caplog.records)


# --- the backprose logger ---------------------------------------------------------------------------------------


def test_a_refused_value_is_one_log_line(caplog):
    x = bp.param(1.0, name="x", bounds=(0, 2))
    caplog.set_level(logging.INFO, logger="backprose")
    update = Optimizer([x]).apply(Proposal({x: 5}))
    assert not update.changed and "[0, 2]" in repr(update)
    [line] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert line.name.startswith("backprose") and "x" in line.getMessage() and "[0, 2]" in line.getMessage()


def test_an_unchanged_suggestion_says_why_nothing_changed():
    x = bp.param(1.0, name="x")
    update = Optimizer([x]).apply(Proposal({x: "1.0"}))
    assert repr(update) == "Update(no change: the suggestion for x equals the current value)"


# --- unknown options ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,known", [(OptoPrime, "memory_size"), (TextGrad, "momentum"),
                                        (Reflect, "max_examples"), (OPRO, "history_size")])
def test_every_optimizer_refuses_an_unknown_option_and_suggests_the_close_one(kind, known):
    typo = known[:-2] + known[-1] + known[-2]  # two letters swapped
    with pytest.raises(UnknownOption, match=f"did you mean '{known}'"):
        kind([bp.param("a")], Scripted([]), **{typo: 5})
    with pytest.raises(TypeError):  # UnknownOption is a TypeError, as Python's own is
        kind([bp.param("a")], Scripted([]), bogus=1)
    kind([bp.param("a")], Scripted([]), **{known: 2})  # the real option is taken


def test_memroy_size_is_refused_with_a_clear_message():
    with pytest.raises(UnknownOption) as info:
        OptoPrime([bp.param("a")], llm=Scripted([]), memroy_size=5)
    assert str(info.value).startswith("OptoPrime has no option 'memroy_size'; did you mean 'memory_size'?")


def test_a_parameter_group_with_an_unknown_key_is_refused():
    with pytest.raises(UnknownOption, match="budgett"):
        OptoPrime([{"params": [bp.param("a")], "budgett": 3}], llm=Scripted([]))


def test_a_value_the_trainer_refused_is_one_log_line(caplog):
    x = bp.param(1.0, name="x")
    opt = Optimizer([x])
    update = opt.apply(Proposal({x: 2.0}))
    caplog.set_level(logging.INFO, logger="backprose")
    opt.record_refusal(update, "validation score fell")
    [line] = [r for r in caplog.records if "trainer refused" in r.getMessage()]
    assert "x" in line.getMessage() and "validation score fell" in line.getMessage()
