"""Reflect: examples gathered per judged output, worst first, bounded prompts, strict replies keyed by name."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optimizer_graphs import extend, numeric_graph

import backprose as bp
from backprose.llm import Scripted, track_usage
from backprose.llm.base import messages_tokens
from backprose.optimizers.reflect import Reflect, examples_for, shown_examples


def said(**values):
    """A Reflect reply: the diagnosis it requires, then the new values."""
    return json.dumps({"diagnosis": "d", **values})


def batch(prompt="Solve it.", n=3, scores=None):
    """A text parameter feeding `n` judged outputs, one per question, with feedback 'Score: s. ...'."""
    p = bp.param(prompt, name="instructions", description="instructions before each question",
                 constraint="one sentence")
    outs = [extend(p, bp.Node(f"question {i}?", name="question")) for i in range(n)]
    scores = scores or [0.0] * n
    bp.backward(outs, [f"Score: {s:g}. Reply {i} is wrong: give only the number." for i, s in enumerate(scores)])
    return p, outs


def test_examples_carry_the_input_output_and_feedback_worst_first():
    p, outs = batch(n=3, scores=[0.5, 0.0, 1.0])
    examples = examples_for(p)
    assert [e.score for e in examples] == [0.0, 0.5, 1.0]
    first = examples[0]
    assert first.inputs == ["question 1?"]  # the parameter itself is not an input of its own example
    assert first.output == "Solve it. question 1?"
    assert "Reply 1 is wrong" in first.feedback


def test_with_mixed_scores_the_prompt_asks_for_the_difference_and_keeps_a_good_example():
    p, _ = batch(n=4, scores=[0.0, 0.0, 0.0, 1.0])
    examples = examples_for(p)
    assert [e.score for e in shown_examples(examples, 2)] == [0.0, 1.0]  # the best kept beside the worst
    assert [e.score for e in shown_examples(examples, 4)] == [0.0, 0.0, 0.0, 1.0]
    llm = Scripted([said(instructions="Reply with only the number.")])
    Reflect([p], llm=llm).step()
    user = llm.prompts[0][1]["content"]
    assert "what the higher-scored outputs do and the" in user and "(score 1)" in user


def test_with_equal_scores_there_is_nothing_to_compare():
    p, _ = batch(n=3, scores=[0.0, 0.0, 0.0])
    assert [e.score for e in shown_examples(examples_for(p), 2)] == [0.0, 0.0]
    llm = Scripted([said(instructions="Reply with only the number.")])
    Reflect([p], llm=llm).step()
    assert "higher-scored" not in llm.prompts[0][1]["content"]


def test_prompt_golden(golden):
    p, _ = batch(n=2, scores=[0.0, 0.5])
    llm = Scripted([said(instructions="Reply with only the number.")])
    Reflect([p], llm=llm).step()
    golden("reflect_user.txt", llm.prompts[0][1]["content"])


def test_step_adopts_a_new_value_and_makes_one_call_per_parameter():
    p, _ = batch()
    llm = Scripted([said(instructions="Reply with only the number.")])
    with track_usage() as usage:
        update = Reflect([p], llm=llm).step()
    assert usage.calls == 1
    assert update.changed and p.value == "Reply with only the number."


def test_unchanged_value_is_sent_back_once_then_reported_not_adopted():
    p, _ = batch()
    llm = Scripted([said(instructions="Solve it."), said(instructions="Solve it.")])
    update = Reflect([p], llm=llm).step()
    assert "same as the current one" in llm.prompts[1][-1]["content"]  # the retry says what was wrong
    assert p.value == "Solve it." and not update.changed


def test_wrong_key_gets_one_retry_and_the_fixed_reply_is_used():
    p, _ = batch()
    llm = Scripted([json.dumps({"prompt": "x"}), said(instructions="Give only the number.")])
    update = Reflect([p], llm=llm).step()
    assert len(llm.prompts) == 2 and 'key "instructions"' in llm.prompts[1][-1]["content"]
    assert update.changed and p.value == "Give only the number."


def test_number_parameter_is_coerced_and_bounded():
    x, out = numeric_graph(3.0)
    out.backward("Score: 0. The output 10 is too low; it must be 50.")
    llm = Scripted([said(x=500)] * 2)  # the retry says why; the second reply is still refused
    update = Reflect([x], llm=llm).step()
    assert not update.changed and x.value == 3.0  # outside the bounds: refused, reported
    assert update.changes and not update.changes[0].accepted


def test_n_candidates_are_sampled_hotter():
    p, _ = batch()
    llm = Scripted([json.dumps({"diagnosis": "d", "instructions": f"Answer {i}."}) for i in range(3)])
    proposals = Reflect([p], llm=llm).propose(3)
    assert [list(pr.values.values())[0] for pr in proposals] == ["Answer 0.", "Answer 1.", "Answer 2."]
    assert [c.options.get("temperature") for c in llm.calls] == [0.0, 0.4, 0.8]


def test_async_propose_matches_sync():
    p, _ = batch()
    reply = said(instructions="Only the number.")
    sync = Reflect([p], llm=Scripted([reply])).propose(1)
    other = Reflect([p], llm=Scripted([reply]))
    assert [pr.values for pr in asyncio.run(other.apropose(1))] == [pr.values for pr in sync]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), size=st.integers(1, 3000))
def test_prompt_stays_within_the_budget(n, size):
    p, outs = batch(prompt="p" * size, n=n)
    opt = Reflect([p], llm=Scripted([]), budget=1500)
    messages = opt.messages(p)
    from backprose.optimizers.replies import reserve_tokens

    assert messages_tokens(messages) + reserve_tokens(opt.schema(p), opt.templates) <= 1500
    user = messages[1]["content"]
    assert "Example 1" in user  # at least the worst example is always shown
    if n > opt.max_examples:
        assert "more examples are not shown" in user


def test_a_long_value_is_shown_whole_when_the_budget_allows():
    long_prompt = " ".join(f"rule{i}." for i in range(400))  # about 3,000 characters
    p, _ = batch(prompt=long_prompt, n=2)
    user = Reflect([p], llm=Scripted([]), budget=4000).messages(p)[1]["content"]
    assert long_prompt in user



def test_a_value_pasting_one_examples_output_is_caught_and_a_shared_frame_is_not():
    from backprose.optimizers.reflect import Example, copied_span

    worked = "To solve this, multiply the 3 boxes by 4 apples in each box to get 12 apples"
    frame = "Task: count the items in every box and bag."
    examples = [Example([f"{frame}\nAna has 3 boxes of 4 apples."], worked, "Score: 0."),
                Example([f"{frame}\nBen has 2 bags of 5 pens."], "10", "Score: 1.")]
    assert copied_span("Solve it. " + worked, "Solve it.", examples) == worked
    assert copied_span(f"{frame} Show each step, then the total.", "Solve it.", examples) is None  # in all
    assert copied_span(worked, worked, examples) is None  # already in the old value
    one = examples[:1]  # a single example: its input cannot be told from the frame, its output still counts
    assert copied_span(f"{frame} Ana has 3 boxes of 4 apples.", "Solve it.", one) is None
    assert copied_span("Say: " + worked, "Solve it.", one) == worked


def test_general_reasoning_the_program_wrote_may_be_repeated_but_not_an_examples_particulars():
    from backprose.optimizers.reflect import Example, copied_span

    frame = "The statements are logically consistent within each paragraph."
    reasoning = "Let's analyze step by step to determine which statement is logically consistent"
    examples = [Example([f"{frame} The owl is left of the robin."],
                        f"{reasoning}. So the owl is the leftmost bird of the three.", "Score: 0."),
                Example([f"{frame} Mangoes cost less than kiwis."], f"{reasoning}. Mangoes cost less than kiwis.",
                        "Score: 1.")]
    assert copied_span(f"Work {reasoning[15:]}, then answer.", "Answer.", examples) is None  # general words
    pasted = copied_span("Say which, as in: so the owl is the leftmost bird of the three.", "Answer.", examples)
    assert pasted and "the owl is the leftmost bird" in pasted  # "owl" is one example's particular
    both = copied_span(f"{reasoning}. Also: so the owl is the leftmost bird of the three.", "Answer.", examples)
    assert both and "the owl is the leftmost bird" in both  # a longer general stretch does not hide it
    dated = [Example(["When is it?"], "Counting on from the start, today is 04/12/1969", "Score: 0.")]
    assert copied_span("Reply as: Counting on from the start, today is 04/12/1969", "Answer.", dated)  # a number


def test_reflect_sends_back_a_rewrite_that_pastes_an_example_and_takes_the_retry():
    p = bp.param("Solve it.", name="instructions", description="instructions before each question")
    questions = ["Ana has 3 boxes with 4 apples in each box and buys 2 more apples.", "What is 2 + 2?"]
    outs = [extend(p, bp.Node(q, name="question")) for q in questions]
    bp.backward(outs, ["Score: 0. Expected 14.", "Score: 1. Correct."])
    llm = Scripted([said(instructions="Ana has 3 boxes with 4 apples in each box, so add them."),
                    said(instructions="Show the working, then give only the number.")])
    update = Reflect([p], llm=llm).step()
    assert "pastes text from one example" in llm.prompts[1][-1]["content"]
    assert p.value == "Show the working, then give only the number." and update.changed


@pytest.mark.parametrize(("first", "words"), [
    ("The new value of the parameter `instructions` must follow the grader.", "the parameter"),
    ("The instructions before each question should be clearer.", "instructions before each question"),  # description
])
def test_reflect_sends_back_a_rewrite_that_describes_the_value_and_takes_the_retry(first, words):
    p, _ = batch()
    llm = Scripted([said(instructions=first), said(instructions="Give only the number.")])
    update = Reflect([p], llm=llm).step()
    assert f"talks about the parameter ({words!r})" in llm.prompts[1][-1]["content"]
    assert p.value == "Give only the number." and update.changed


def test_a_rewrite_that_only_changes_punctuation_or_case_counts_as_unchanged():
    p, _ = batch()
    llm = Scripted([said(instructions=" solve IT"), said(instructions="Show the working.")])
    Reflect([p], llm=llm).step()
    assert "same as the current one (apart from case" in llm.prompts[1][-1]["content"]
    assert p.value == "Show the working."


def test_show_ends_keeps_the_start_and_the_end_within_the_cap():
    from backprose.optimizers.problem import show_ends

    text = "start " + "-" * 500 + " the end"
    out = show_ends(text, 120)
    assert len(out) <= 120 and out.startswith("start ") and out.endswith(" the end") and "chars cut" in out
    assert show_ends("short", 120) == "short"


def test_the_diagnosis_comes_first_is_required_and_becomes_the_reasoning():
    p, _ = batch()
    llm = Scripted([json.dumps({"instructions": "Only the number."}),
                    json.dumps({"diagnosis": "Replies were sentences.", "instructions": "Only the number."})])
    update = Reflect([p], llm=llm).step()
    assert 'missing required key "diagnosis"' in llm.prompts[1][-1]["content"]
    assert list(Reflect([p]).schema(p)["properties"]) == ["diagnosis", "instructions"]
    assert p.value == "Only the number." and "instructions: Replies were sentences." in update.reasoning


def test_a_value_still_pasting_an_example_after_the_retry_is_dropped_not_tried():
    p = bp.param("Solve it.", name="instructions", description="instructions before each question")
    questions = ["Ana has 3 boxes with 4 apples in each box and buys 2 more apples.", "What is 2 + 2?"]
    outs = [extend(p, bp.Node(q, name="question")) for q in questions]
    bp.backward(outs, ["Score: 0. Expected 14.", "Score: 1. Correct."])
    pasted = said(instructions="Ana has 3 boxes with 4 apples in each box, so add them.")
    update = Reflect([p], llm=Scripted([pasted, pasted])).step()
    assert update.changes == [] and p.value == "Solve it."
    assert "instructions: dropped: " in update.reasoning and "pastes text from one example" in update.reasoning


def test_a_parameter_named_diagnosis_keeps_its_own_key():
    p = bp.param("old", name="diagnosis")
    out = extend(p, bp.Node("q?", name="question"))
    out.backward("Score: 0. Wrong.")
    llm = Scripted([json.dumps({"diagnosis_of_the_fault": "It was wrong.", "diagnosis": "new"})])
    Reflect([p], llm=llm).step()
    assert p.value == "new" and '{"diagnosis_of_the_fault": "<one or two sentences>"' in llm.prompts[0][-1]["content"]
