"""OPRO: a bounded, sorted history of scored values that reaches the prompt."""

from __future__ import annotations

import json

import backprose as bp
from backprose.llm import Scripted
from backprose.llm.base import messages_tokens
from backprose.optimizers import OPRO


def reply(**values):
    return json.dumps({"reasoning": "r", "suggestion": values})


def test_history_is_bounded_sorted_and_keeps_the_best(golden):
    x = bp.param(0.0, name="x", description="a guess", bounds=(0, 100))
    llm = Scripted([reply(x=v) for v in range(1, 7)])
    opt = OPRO([x], llm=llm, history_size=3, task="Guess the hidden number.")
    for score in (0.5, 0.1, 0.9, 0.3, 0.7, 0.2):
        opt.step(score=score)
    assert [e["score"] for e in opt.history] == [0.5, 0.7, 0.9]
    last = llm.prompts[-1][1]["content"]
    assert last.index("score: 0.5") < last.index("score: 0.7") < last.index("score: 0.9")
    assert "score: 0.1" not in last
    golden("opro_user.txt", last)
    again = OPRO([x], llm=llm, history_size=3)
    again.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert again.history == opt.history


def test_score_is_read_from_feedback():
    x = bp.param("hi", name="greeting")
    out = bp.bundle()(lambda s: s + "!")(x)
    out.backward("score: 0.4 needs to be warmer")
    opt = OPRO([x], llm=Scripted([reply(greeting="Hello, friend")]))
    opt.step()
    assert opt.history[0]["score"] == 0.4 and "warmer" in opt.history[0]["feedback"]
    assert x.value == "Hello, friend"


def test_prompt_stays_within_budget_with_a_long_history():
    x = bp.param("v", name="text")
    llm = Scripted(lambda m: reply(text="w" * 3000))
    opt = OPRO([x], llm=llm, history_size=50, budget=2000)
    for k in range(20):
        opt.step(score=k)
    assert all(messages_tokens(m) <= 2000 for m in llm.prompts)
    assert "score: 19" in llm.prompts[-1][1]["content"]  # the best entries are the ones kept


def test_n_candidates_and_invalid_values_refused():
    x = bp.param(1, name="k", bounds=(0, 10))
    llm = Scripted([reply(k=3), reply(k=50), reply(k=60)])
    opt = OPRO([x], llm=llm)
    first, second = opt.propose(2, score=0.1)
    assert list(first.values.values()) == [3]
    update = opt.apply(second)
    assert update.rejected and x.value == 1
