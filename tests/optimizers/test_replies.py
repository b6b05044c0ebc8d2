"""Reply parsing and coercion: every value type, strict parsing with one retry, nothing adopted silently."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimizer_graphs import add, extend, numeric_graph, square

import backprose as bp
from backprose.errors import InvalidUpdate, ReplyFormatError
from backprose.llm import Scripted
from backprose.nodes.parameter import strip_fence
from backprose.optimizers import OptoPrime
from backprose.optimizers.prompts import Templates
from backprose.optimizers.replies import aask_json, ask_json, check_values

SCHEMA = {"type": "object", "properties": {"value": {}}, "required": ["value"]}


def snippet(a, b=2):
    return a + b


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_numbers_within_bounds_are_accepted_and_outside_refused(x):
    p = bp.param(0.0, name="n", bounds=(-10, 10))
    if -10 <= x <= 10:
        assert p.check(x) == x
        assert p.check(json.dumps(x)) == pytest.approx(x)
    else:
        with pytest.raises(InvalidUpdate, match=r"\[-10, 10\]"):
            p.check(x)


@given(st.integers(-1000, 1000))
def test_integer_parameter_keeps_integers(k):
    p = bp.param(1, name="k")
    assert p.check(k) == k and isinstance(p.check(k), int)
    assert p.check(f" {k} ") == k
    with pytest.raises(InvalidUpdate):
        p.check(k + 0.5)


@given(st.text())
def test_text_takes_strings_and_scalars_but_not_structures(s):
    p = bp.param("start", name="t")
    assert p.check(s) == s
    assert p.check(5) == "5"
    assert p.check({"t": s}) == s  # one string wrapped once more is unambiguous
    with pytest.raises(InvalidUpdate, match="is text"):
        p.check({"a": s, "b": s})
    with pytest.raises(InvalidUpdate, match="is text"):
        p.check({"a": [s]})


@given(st.booleans())
def test_bool_accepts_json_bools_and_their_text(b):
    p = bp.param(False, name="flag")
    assert p.check(b) is b
    assert p.check(str(b).lower()) is b
    with pytest.raises(InvalidUpdate):
        p.check("maybe")


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_json_keeps_its_shape(d):
    p = bp.param({"a": 1}, name="cfg")
    assert p.check(d) == d
    assert p.check(json.dumps(d)) == d
    with pytest.raises(InvalidUpdate, match="dict"):
        p.check([d])


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=6))
def test_arrays_keep_shape_and_dtype(values):
    p = bp.param(np.zeros(3), name="w")
    if len(values) == 3:
        out = p.check(values)
        assert out.shape == (3,) and out.dtype == np.float64
        assert np.array_equal(p.check(json.dumps(values)), out)
    else:
        with pytest.raises(InvalidUpdate, match="shape"):
            p.check(values)


def test_code_keeps_its_signature_and_loses_fences():
    code = bp.CodeParameter(snippet)
    good = "```python\ndef snippet(a, b=2):\n    return a * b\n```"
    assert code.check(good).startswith("def snippet(a, b=2):")
    with pytest.raises(InvalidUpdate, match="signature"):
        code.check("def snippet(a):\n    return a\n")
    with pytest.raises(InvalidUpdate, match="parse"):
        code.check("def snippet(a, b=2):\n    return (a\n")
    with pytest.raises(InvalidUpdate, match="def snippet"):
        code.check("def other(a, b=2):\n    return a\n")
    assert strip_fence("plain") == "plain"


def test_check_values_reports_unknown_names_and_bad_values():
    x = bp.param(1.0, name="x", bounds=(0, 2))
    problems = check_values({"x": x}, {"x": 5, "y": 1})
    assert any("'y' is not a trainable variable" in p for p in problems)
    assert any("[0, 2]" in p for p in problems)
    assert check_values({"x": x}, "x=1") == ["the suggestion must be an object mapping variable names to new "
                                             "values, got str"]


def _value_checker(reply):
    return [] if isinstance(reply.get("value"), int) else ["value must be an integer"]


def test_a_bad_reply_gets_one_retry_that_says_what_was_wrong():
    llm = Scripted(["not json at all", '{"value": 3}'])
    log: list = []
    assert ask_json(llm, [{"role": "user", "content": "q"}], SCHEMA, _value_checker, Templates(), log) == {"value": 3}
    retry = llm.prompts[1]
    assert retry[-2] == {"role": "assistant", "content": "not json at all"}
    assert "could not be used" in retry[-1]["content"] and "no complete JSON" in retry[-1]["content"]
    assert [e["attempt"] for e in log] == [0, 1] and log[1]["problems"] == []


def test_semantic_problems_are_retried_too_and_then_raise():
    llm = Scripted(['{"value": "x"}', '{"value": "y"}', '{"value": 1}'])
    with pytest.raises(ReplyFormatError) as info:
        ask_json(llm, "q", SCHEMA, _value_checker, Templates())
    assert info.value.problems == ["value must be an integer"] and info.value.raw == '{"value": "y"}'
    assert "value must be an integer" in llm.prompts[1][-1]["content"]
    assert llm.remaining == 1  # exactly two calls


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_retries_bound_the_requests_a_bad_reply_can_cost(retries):
    llm = Scripted(['{"value": "x"}'] * 4)
    with pytest.raises(ReplyFormatError):
        ask_json(llm, "q", SCHEMA, _value_checker, Templates(), retries=retries)
    assert llm.remaining == 4 - (1 + retries)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_a_bad_retry_count_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="0 or more"):
        ask_json(Scripted([]), "q", SCHEMA, _value_checker, Templates(), retries=bad)
    with pytest.raises(ValueError, match="0 or more"):
        bp.optimizers.OptoPrime([bp.param(1.0, name="x")], llm=Scripted([]), retries=bad)


@pytest.mark.parametrize("name", ["OptoPrime", "TextGrad", "Reflect", "OPRO"])
def test_every_optimizer_makes_one_request_per_step_with_retries_off(name):
    x, out = numeric_graph()
    out.backward("too low")
    llm = Scripted(["not json"] * 3)
    opt = getattr(bp.optimizers, name)([x], llm=llm, retries=0)
    update = opt.step()
    assert x.value == 3.0 and not update.accepted
    asked = [e for e in opt.log if e["kind"] == "prompt"]
    assert len(asked) == 1 and asked[0]["problems"]


def test_unusable_replies_change_nothing_and_are_reported():
    x, out = numeric_graph()
    out.backward("too low")
    llm = Scripted(["I think x should be 7", "x = 7"])
    update = bp.optimizers.OptoPrime([x], llm=llm).step()
    assert x.value == 3.0 and not update.changes
    assert "unusable" in update.reasoning


@pytest.mark.parametrize("name", ["OptoPrime", "Reflect", "TextGrad"])
@pytest.mark.parametrize(("echo", "problem"), [
    ("Instructions of agent 'writer'.}", "repeats the parameter's description"),  # as the 1.5B model wrote it
    ("The new writer should be the one that corresponds to the grader's rules.", "talks about the parameter"),
])
def test_a_suggestion_about_the_parameter_instead_of_a_value_is_retried_then_refused(name, echo, problem):
    p = bp.param("Reply with the number only.", name="writer", description="instructions of agent 'writer'")
    out = bp.bundle()(lambda s: s + "!")(p)
    out.backward("Score: 0. Expected 14.")
    reply = {"OptoPrime": json.dumps({"reasoning": "r", "suggestion": {"writer": echo}}),
             "Reflect": json.dumps({"diagnosis": "d", "writer": echo}),
             "TextGrad": json.dumps({"reasoning": "r", "value": echo})}[name]
    llm = Scripted(lambda messages: reply if "You improve one variable" in messages[0]["content"]
                   or name != "TextGrad" else "Make it shorter.")
    update = getattr(bp.optimizers, name)([p], llm=llm).step()
    asked = [m for m in llm.prompts if problem in m[-1]["content"]]
    assert asked, f"no retry named the problem: {problem}"
    assert p.value == "Reply with the number only." and not update.accepted


def test_the_retry_prompt_caps_the_bad_reply_and_the_problem_list():
    """A long bad reply and many long problems must not blow the budget (seen: 8-9k tokens on a 3k budget)."""
    from backprose.llm.structured import ECHO_CHARS, ONE_PROBLEM_CHARS, PROBLEM_CHARS

    problems = [f"problem {i}: " + "the value quoted back " * 200 for i in range(60)]
    calls = iter([problems, []])
    llm = Scripted(['{"value": "' + "y" * 50_000 + '"}', '{"value": 1}'])
    assert ask_json(llm, "q", SCHEMA, lambda reply: next(calls), Templates()) == {"value": 1}
    retry = llm.prompts[1]
    empty = Templates().render("reply_retry.j2", problems=[])
    assert len(retry[-2]["content"]) <= ECHO_CHARS  # the bad reply, cut
    note = retry[-1]["content"]
    assert len(note) <= len(empty) + PROBLEM_CHARS + 200  # the problems, capped together
    assert "problem 0: the value quoted back" in note  # yet the first problem is shown, cut to its own cap
    assert note.count("problem ") >= 2 and "more problems" in note
    assert all(len(line) <= ONE_PROBLEM_CHARS + 10 for line in note.splitlines())


def test_a_missing_golden_fails_and_is_not_written(tmp_path, monkeypatch):
    from golden_files import compare_golden

    monkeypatch.delenv("BACKPROSE_UPDATE_GOLDEN", raising=False)
    path = tmp_path / "absent.txt"
    with pytest.raises(pytest.fail.Exception, match="BACKPROSE_UPDATE_GOLDEN=1"):
        compare_golden(path, "prompt text")
    assert not path.exists()
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="BACKPROSE_UPDATE_GOLDEN=1"):
        compare_golden(path, "new")
    assert path.read_text(encoding="utf-8") == "old\n"  # a stale golden is reported, never rewritten
    monkeypatch.setenv("BACKPROSE_UPDATE_GOLDEN", "1")  # only an explicit run by hand rewrites it
    compare_golden(path, "new")
    assert path.read_text(encoding="utf-8") == "new\n"


def test_the_structured_repair_request_caps_the_bad_reply_and_the_problems_too():
    """The repair round trip of `complete_json` (network planning and gradients) keeps the same caps."""
    from backprose.llm.structured import ECHO_CHARS, PROBLEM_CHARS, complete_json

    many = {"type": "object", "required": [f"key_{i}_" + "k" * 120 for i in range(40)]}
    llm = Scripted(["{" + '"a": "' + "z" * 40_000 + '"}', json.dumps({k: 1 for k in many["required"]})])
    complete_json(llm, "q", many, name="x")
    repair = llm.prompts[1]
    assert len(repair[-2]["content"]) <= ECHO_CHARS
    note = repair[-1]["content"]
    schema_text = json.dumps(many, indent=2)
    assert len(note) - len(schema_text) <= PROBLEM_CHARS + 400 and "more problems" in note


_any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_any_json, text=st.text(max_size=60))
def test_whatever_the_model_replies_a_step_leaves_each_parameter_valid(raw, text):
    """Through the whole path (reply, parse, retry, proposal, apply): old value or a valid one, never else."""
    x = bp.param(3.0, name="x", bounds=(-100, 100))
    w = bp.param(np.zeros(2), name="w", bounds=(-1, 1))
    note = bp.param("Be brief.", name="note", description="the note")
    extend(note, add(square(x), w)).backward("x is too small")
    replies = [json.dumps({"reasoning": "r", "suggestion": {"x": raw, "w": raw, "note": raw}}), text]
    OptoPrime([x, w, note], llm=Scripted(replies * 2)).step()
    assert isinstance(x.value, float) and -100 <= x.value <= 100
    assert w.value.shape == (2,) and np.all(np.abs(w.value) <= 1)
    assert isinstance(note.value, str) and note.value.strip().lower() != "the note"
@pytest.mark.parametrize("replies", [['{"value": 3}'], ["not json at all", '{"value": 3}'],
                                     ['{"value": "x"}', '{"value": "y"}'], [RuntimeError("server said no")]])
def test_ask_json_and_aask_json_send_the_same_requests_and_give_the_same_result(replies):
    def outcome(call):
        try:
            return "ok", call()
        except ReplyFormatError as err:
            return "ReplyFormatError", err.raw, err.problems
        except Exception as err:
            return type(err).__name__, str(err)

    sync_llm, async_llm, sync_log, async_log = Scripted(list(replies)), Scripted(list(replies)), [], []
    expected = outcome(lambda: ask_json(sync_llm, "q", SCHEMA, _value_checker, Templates(), sync_log, temperature=0))
    got = outcome(lambda: asyncio.run(aask_json(async_llm, "q", SCHEMA, _value_checker, Templates(), async_log,
                                                temperature=0)))
    assert got == expected and async_log == sync_log
    assert async_llm.prompts == sync_llm.prompts
    assert [c.options for c in async_llm.calls] == [c.options for c in sync_llm.calls]


def test_a_retry_is_one_log_line(caplog):
    llm = Scripted(["not json at all", '{"value": 3}'])
    with caplog.at_level(logging.INFO, logger="backprose"):
        ask_json(llm, "q", SCHEMA, _value_checker, Templates())
    assert [r.getMessage() for r in caplog.records if r.name.startswith("backprose")] == [
        "the reply did not check (the reply contains no complete JSON object or array); asking again"]
