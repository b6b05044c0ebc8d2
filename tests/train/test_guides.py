"""Metrics score outputs and say what was wrong; unknown names list the known ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprose.data import Example
from backprose.errors import UnknownMetric
from backprose.llm import Scripted
from backprose.train.guides import (
    METRICS,
    Judgement,
    as_guide,
    exact_match,
    llm_judge,
    metric,
    normalized_match,
    numeric,
    numeric_loose,
    regex,
    unit_tests,
)


def ex(target, input="q"):
    return Example(input, target, "0")


def test_exact_match_feedback_names_expected_and_got():
    assert exact_match(" 42\n", ex("42")).score == 1
    j = exact_match("The answer is 42.", ex("42"))
    assert j.score == 0 and "'42'" in j.feedback and "The answer is 42." in j.feedback


def test_numeric_strict_wants_the_bare_number_and_loose_reads_the_last():
    assert numeric("12", ex("12")).score == 1
    assert numeric("1,200.", ex("1200")).score == 1
    strict = numeric("It is 12 apples", ex("12"))
    assert strict.score == 0 and "only the number 12" in strict.feedback
    assert numeric_loose("It is 12 apples", ex("12")).score == 1
    assert numeric("13", ex("12")).feedback == "Wrong number: expected 12, got 13."


@given(st.integers(-10**6, 10**6))
def test_numeric_accepts_any_integer_written_plainly(n):
    assert numeric(str(n), ex(str(n))).score == 1
    assert numeric(str(n + 1), ex(str(n))).score == 0


def test_normalized_match_ignores_case_and_punctuation():
    assert normalized_match("Paris!", ex("paris")).score == 1


def test_regex_and_unit_tests():
    guide = regex(r"\d{3}-\d{4}")
    assert guide("555-1234", ex(None)).score == 1 and guide("5551234", ex(None)).score == 0
    tests = unit_tests([lambda v: v.startswith("A"), lambda v: len(v) < 5])
    j = tests("Apple pie", ex(None))
    assert j.score == 0.5 and "Failed" in j.feedback
    from_target = metric("unit_tests")
    assert from_target("Abc", ex(["output.startswith('A')", "len(output) == 3"])).score == 1


def test_llm_judge_parses_the_score_and_advice():
    llm = Scripted(["SCORE: 7\nBe more concise."])
    j = llm_judge("concise?", llm=llm)("a long answer", ex("short"))
    assert j == Judgement(0.7, "Be more concise.")
    assert "Reference answer: short" in llm.prompts[0][-1]["content"]


def test_user_functions_may_return_numbers_or_pairs():
    assert as_guide(lambda o, e: 1)("x", ex(None)).score == 1.0
    assert as_guide(lambda o, e: (0.5, "half"))("x", ex(None)) == Judgement(0.5, "half")
    with pytest.raises(TypeError, match="return a number"):
        as_guide(lambda o, e: "good")("x", ex(None))


@pytest.mark.parametrize("score", [-0.1, 1.5, 10, float("nan")])
def test_a_score_outside_zero_to_one_is_refused_with_the_fix(score):
    """The trainer stops a losing candidate early by assuming no example scores above 1."""
    with pytest.raises(ValueError, match=r"outside \[0, 1\]; scale it"):
        as_guide(lambda o, e: score)("x", ex(None))
    with pytest.raises(ValueError, match="outside"):
        as_guide(lambda o, e: Judgement(score, "x"))("x", ex(None))


def test_unknown_metric_lists_names():
    with pytest.raises(UnknownMetric) as err:
        metric("f1")
    assert all(name in str(err.value) for name in METRICS)


# --- guides receive plain values ------------------------------------------------------------------------------


def test_a_guide_receives_the_plain_value_not_a_node():
    """A user's f-string over the output writes the value into the feedback, never `Message(...)`."""
    import backprose as bp
    from backprose.train.rollout import run_one

    seen = []

    @bp.bundle()
    def answer(q):
        return {"answer": "5", "why": "guessed"}

    def guide(output, example):
        seen.append(output)
        return 0.0, f"Wrong: got {output[1]['answer']}, want {example.target}"

    def program(q):
        out = answer(q)
        return [out["answer"], out]  # nodes inside a container are unwrapped too

    rollout = run_one(program, ex("4"), guide)
    assert seen == [["5", {"answer": "5", "why": "guessed"}]]
    assert rollout.feedback == "Wrong: got 5, want 4"  # not "Message('getitem', ...)"
    judge = as_guide(lambda output, example: (1.0, type(output).__name__))
    assert judge(bp.Node("x"), ex("x")).feedback == "str"
