import asyncio

import pytest

from backprose.errors import InvalidMessages
from backprose.llm import LLM, Completion, OpenAI, Scripted
from backprose.llm.base import estimate_tokens, normalize_messages


def test_string_becomes_one_user_message():
    assert normalize_messages("hi") == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("bad", [{"role": "user", "content": "x"}, [], [{"content": "no role"}], 42])
def test_bad_messages_say_what_to_pass(bad):
    with pytest.raises(InvalidMessages, match="plain string"):
        normalize_messages(bad)


def test_completion_round_trips_through_dict():
    c = Completion("text", "m", 3, 4, cached=False, finish_reason="stop", raw={"id": "x"})
    assert Completion.from_dict(c.to_dict()) == c
    assert Completion.from_dict({**c.to_dict(), "unknown_field": 1}) == c


def test_clients_satisfy_the_protocol():
    assert isinstance(Scripted(["a"]), LLM)
    assert isinstance(OpenAI(model="m", base_url="http://127.0.0.1:9/v1"), LLM)


def test_default_options_merge_under_call_options():
    llm = Scripted(lambda m: "ok", options={"temperature": 0.0, "seed": 1})
    llm.complete("x", temperature=0.7)
    assert llm.calls[0].options == {"temperature": 0.7, "seed": 1}


def test_sample_index_is_not_sent_but_keeps_samples_apart(tmp_path):
    llm = Scripted(["a", "b", "c"], cache=str(tmp_path))
    texts = [c.text for c in llm.sample("same prompt", 3, temperature=1.0)]
    assert texts == ["a", "b", "c"]
    assert all("sample_index" not in call.options for call in llm.calls)
    again = [c for c in llm.sample("same prompt", 3, temperature=1.0)]
    assert [c.text for c in again] == ["a", "b", "c"] and all(c.cached for c in again)


def test_async_path_matches_sync():
    llm = Scripted(lambda m: m[-1]["content"].upper())
    assert asyncio.run(llm.acomplete("abc")).text == "ABC"


def test_token_estimate_grows_with_text():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 400) > estimate_tokens("a" * 40) > 0
