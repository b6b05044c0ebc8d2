"""Exploring retries: a reply that repeats a value is asked again hotter and from another angle."""

import json
import logging

import backprose as bp
from backprose.llm import Scripted, limit_calls
from backprose.optimizers import Reflect

START = "Add the numbers."


def reply(value):
    return json.dumps({"diagnosis": "the replies are sentences", "instruction": value})


def judged_instruction():
    instruction = bp.param(START, name="instruction")
    out = bp.call_llm("What is 2 plus 3?", system=instruction, llm=Scripted(["The sum is 5."]))
    bp.backward(out, "Score: 0. Expected the bare number 5.", inputs=["What is 2 plus 3?"])
    return instruction


def angle_line(messages):
    return [line for line in messages[-1]["content"].splitlines() if "look at it from one angle" in line]


def test_a_reply_that_repeats_the_current_value_is_retried_hotter_from_another_angle(caplog):
    instruction = judged_instruction()
    teacher = Scripted([reply(START), reply("Reply with the number only.")])
    opt = Reflect([instruction], llm=teacher, explore=True, retries=1)
    with caplog.at_level(logging.INFO, logger="backprose"):
        [proposal] = opt.propose()
    assert proposal.values[instruction] == "Reply with the number only."
    first, retry = teacher.calls
    assert retry.options["temperature"] > first.options["temperature"]
    assert angle_line(first.messages) == [] and angle_line(retry.messages)  # the plain prompt, then an angle
    assert "same as the current one" in retry.messages[-1]["content"]  # it is told what was wrong
    assert "exploring retry 1" in caplog.text


def test_after_a_refusal_the_next_step_starts_from_the_next_angle_hotter_and_a_change_starts_afresh():
    instruction = judged_instruction()
    teacher = Scripted(lambda m: reply(f"Answer {len(m[-1]['content'])}."))
    opt = Reflect([instruction], llm=teacher, explore=True)
    proposal = opt.propose()[0]
    opt.record_refusal(opt.apply(proposal), "not better on the minibatch")
    instruction.assign(START)
    opt.propose()
    first, second = teacher.calls
    assert second.options["temperature"] > first.options["temperature"]
    assert angle_line(second.messages) and not angle_line(first.messages)
    instruction.assign("Something adopted.")
    opt.propose()
    assert teacher.calls[-1].options["temperature"] == first.options["temperature"] and not angle_line(
        teacher.calls[-1].messages)


def test_every_angle_differs_from_the_one_before():
    instruction = judged_instruction()
    opt = Reflect([instruction], llm=Scripted(["{}"]), explore=True)
    seen = []
    for misses in range(6):
        opt.explore.misses["instruction"] = misses
        seen.append(tuple(angle_line(opt.messages(instruction))))
    assert len(set(seen)) == 6


def test_no_retry_is_sent_when_the_budget_could_not_try_its_value(caplog):
    instruction = judged_instruction()
    teacher = Scripted([reply(START), reply("Reply with the number only.")])
    opt = Reflect([instruction], llm=teacher, explore=True, retries=1)
    with caplog.at_level(logging.INFO, logger="backprose"), limit_calls(2):
        assert opt.propose()[0].values == {}
    assert len(teacher.calls) == 1 and "no exploring retry: 1 model call(s) left" in caplog.text


def test_only_the_last_unusable_reply_is_warned_about_the_ones_before_are_retried(caplog):
    instruction = judged_instruction()
    teacher = Scripted(lambda messages: reply(START))  # repeats the current value every time
    opt = Reflect([instruction], llm=teacher, explore=True, retries=2)
    with caplog.at_level(logging.INFO, logger="backprose"):
        assert opt.propose()[0].values == {}
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(teacher.calls) == 3
    assert warned == [w for w in warned if w.startswith("instruction: the reply stayed unusable after 3 attempt(s)")]
    assert len(warned) == 1 and "same as the current one" in warned[0]
    assert caplog.text.count("exploring retry") == 2


def test_plain_reflect_does_not_explore():
    instruction = judged_instruction()
    teacher = Scripted([reply(START), reply("Reply with the number only.")])
    Reflect([instruction], llm=teacher, retries=1).propose()
    assert not angle_line(teacher.calls[1].messages)
