"""The trainer tells the optimizer what it refused, so the next step does not propose the same value."""

from __future__ import annotations

import json

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers.reflect import Reflect
from backprose.train import Trainer


class Styled(bp.Module):
    def __init__(self) -> None:
        self.style = bp.param("plain", name="style", description="how to reply")

    def __call__(self, x: int) -> bp.Node:
        return styled(self.style, x)


@bp.bundle()
def styled(style: str, x: int) -> str:
    return f"{style}: {x}"


def guide(output, example):
    good = str(output).startswith("exact")
    return (1.0 if good else 0.0), ("Correct." if good else "Start the reply with the word exact.")


def test_a_refused_value_is_shown_to_the_next_step_and_not_proposed_again():
    module = Styled()
    llm = Scripted([json.dumps({"diagnosis": "d", "style": "loud"}),      # step 0: no better on the minibatch, refused
                    json.dumps({"diagnosis": "d", "style": "loud"}),      # step 1: the same again, sent back
                    json.dumps({"diagnosis": "d", "style": "exact"})])    # the retry's answer
    opt = Reflect(module.parameters(), llm=llm)
    data = [(1, None), (2, None)]
    result = Trainer(module, data, data, guide, opt, steps=2, batch_size=2, concurrency=1).fit()
    assert [h["accepted"] for h in result.history] == [False, True]
    assert module.style.value == "exact"
    second = llm.prompts[1][-1]["content"]
    assert 'did not help' in second and '"""loud"""' in second and "not better on the minibatch" in second
    assert "already tried and refused" in llm.prompts[2][-1]["content"]
    assert opt.refusals(module.style)[0]["value"] == "loud"


def test_refusals_survive_the_optimizer_state_and_stay_bounded():
    p = bp.param("a", name="p")
    opt = Reflect([p], llm=Scripted([]))
    for value in ["b", "c", "b", "d", "e"]:
        update = bp.optimizers.Update([bp.optimizers.Change(p, "a", value, True)])
        opt.record_refusal(update, f"refused {value}")
    assert [r["value"] for r in opt.refusals(p)] == ["b", "d", "e"]  # newest last, a repeat moves to the end
    again = Reflect([p], llm=Scripted([]))
    again.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert again.refusals(p) == opt.refusals(p)
    assert "refused e" in again.repeats_refusal(p, "e") and again.repeats_refusal(p, "c") is None
