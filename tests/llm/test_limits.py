"""Call limits stop before the request that would exceed them, exactly, across threads and nested blocks."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprose.errors import CallBudgetExhausted
from backprose.llm import ResponseCache, Scripted, limit_calls, track_usage


def test_the_request_past_the_limit_is_never_sent():
    llm = Scripted(["a", "b", "c"])
    with limit_calls(2) as limit:
        assert [llm.complete("q1").text, llm.complete("q2").text] == ["a", "b"]
        with pytest.raises(CallBudgetExhausted, match="budget of 2 model calls is spent"):
            llm.complete("q3")
    assert llm.remaining == 1 and limit.remaining == 0
    assert llm.complete("q3").text == "c"  # outside the block nothing is limited


def test_cache_hits_are_free(tmp_path):
    llm = Scripted(["a", "b"], cache=ResponseCache(tmp_path / "c.sqlite3"))
    llm.complete("q")
    with limit_calls(0), track_usage() as usage:
        assert llm.complete("q").text == "a"
        with pytest.raises(CallBudgetExhausted):
            llm.complete("other")
    assert usage.cache_hits == 1 and usage.calls == 0


def test_nested_limits_the_tightest_wins_and_both_count():
    llm = Scripted(lambda messages: "ok")
    with limit_calls(3) as outer:
        with limit_calls(1):
            llm.complete("a")
            with pytest.raises(CallBudgetExhausted, match="budget of 1"):
                llm.complete("b")
        llm.complete("c")
        llm.complete("d")
        with pytest.raises(CallBudgetExhausted, match="budget of 3"):
            llm.complete("e")
    assert outer.started == 3


@settings(max_examples=25, deadline=None)
@given(limit=st.integers(0, 12), requests=st.integers(0, 30), workers=st.integers(1, 8))
def test_concurrent_requests_never_exceed_the_limit(limit, requests, workers):
    llm = Scripted(lambda messages: "ok")

    def one(i):
        try:
            return llm.complete(f"q{i}").text
        except CallBudgetExhausted:
            return None

    with limit_calls(limit), ThreadPoolExecutor(workers) as pool:  # each task starts from this context
        results = [f.result() for f in [pool.submit(contextvars.copy_context().run, one, i)
                                        for i in range(requests)]]
    assert sum(r == "ok" for r in results) == min(limit, requests)
    assert len(llm.prompts) == min(limit, requests)


async def _two(llm):
    await llm.acomplete("a")
    await llm.acomplete("b")


def test_async_requests_are_limited_too():
    import asyncio

    llm = Scripted(lambda messages: "ok")
    with limit_calls(1), pytest.raises(CallBudgetExhausted):
        asyncio.run(_two(llm))
    assert len(llm.prompts) == 1


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match="whole number of model calls"):
        with limit_calls(bad):
            pass
