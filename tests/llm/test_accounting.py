import asyncio
import threading

from hypothesis import given
from hypothesis import strategies as st

from backprose.llm import Scripted, Usage, track_usage
from backprose.llm.accounting import cost_of, price_for


def test_longest_prefix_price_wins():
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("gpt-4o-2024-08-06") == (2.50, 10.00)
    assert price_for("my-local-model") is None
    assert price_for("my-local-model", {"my-local": (1.0, 2.0)}) == (1.0, 2.0)


def test_cost_is_per_million_tokens_and_none_when_unknown():
    assert cost_of("gpt-4o", 1_000_000, 1_000_000) == 12.5
    assert cost_of("unknown", 10, 10) is None


def test_usage_counts_calls_hits_tokens_and_cost():
    u = Usage()
    u.add(cached=False, prompt_tokens=10, completion_tokens=5, cost=0.5)
    u.add(cached=False, prompt_tokens=1, completion_tokens=1, cost=None)
    u.add(cached=True)
    d = u.as_dict()
    assert (d["calls"], d["cache_hits"], d["prompt_tokens"], d["completion_tokens"]) == (2, 1, 11, 6)
    assert d["cost"] == 0.5 and d["unpriced_calls"] == 1
    assert "2 calls" in u.summary() and "1 calls unpriced" in u.summary()
    u.reset()
    assert u.as_dict()["calls"] == 0 and u.cost is None


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=50))
def test_usage_is_exact_under_threads(tokens):
    u = Usage()
    threads = [threading.Thread(target=u.add, kwargs={"cached": False, "prompt_tokens": t}) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert u.calls == len(tokens) and u.prompt_tokens == sum(tokens)


def test_track_usage_sees_calls_of_every_client_and_nests():
    a, b = Scripted(lambda m: "x"), Scripted(lambda m: "y")
    a.complete("before")
    with track_usage() as outer:
        a.complete("1")
        with track_usage() as inner:
            b.complete("2")
        b.complete("3")
    a.complete("after")
    assert outer.calls == 3 and inner.calls == 1
    assert a.usage.calls == 3 and b.usage.calls == 2
    assert outer.wall_time is not None and outer.wall_time >= 0


def test_track_usage_follows_asyncio_tasks():
    llm = Scripted(lambda m: "x")

    async def main():
        with track_usage() as u:
            await asyncio.gather(*(llm.acomplete(str(i)) for i in range(5)))
        return u

    assert asyncio.run(main()).calls == 5
