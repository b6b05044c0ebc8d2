"""`timeout` bounds the whole call and `attempt_timeout` one attempt, against a real socket on 127.0.0.1.

Bounds on elapsed time are deliberately loose (a 20 s drip against a 1 s timeout must end well under 10 s),
so a busy machine cannot fail them; what they catch is a deadline that does not fire at all.
"""

import asyncio
import logging
import threading
import time

import pytest
from openai_helpers import call, client

from backprose.errors import LLMRateLimited, LLMTimeoutError
from backprose.llm import OpenAI
from backprose.testing import FakeOpenAIServer

DRIP = 20.0


@pytest.mark.parametrize("where", ["body", "headers"])
@pytest.mark.parametrize("how", ["sync", "async"])
def test_a_dripping_server_cannot_stretch_the_call_past_its_timeout(how, where):
    drip = {"kind": "drip", "seconds": DRIP, "interval": 0.5, "where": where}
    with FakeOpenAIServer(faults=[drip]) as server:
        llm = client(server, timeout=1.0, max_retries=3)
        start = time.monotonic()
        with pytest.raises(LLMTimeoutError, match=r"within 1s \(1 attempts; timeout=\.\.\. bounds the whole call\)"):
            call(llm, how)
        assert time.monotonic() - start < DRIP / 2
        assert server.calls == 1  # the whole call's time is spent: no retry


def test_the_drip_fault_answers_when_nobody_times_out():
    """The fault itself is sound: with time to spare, the dripped reply is a valid completion."""
    with FakeOpenAIServer(faults=[{"kind": "drip", "seconds": 1.0, "interval": 0.25}]) as server:
        assert client(server, timeout=60).complete("x").text == "dripped"


@pytest.mark.parametrize("how", ["sync", "async"])
def test_attempt_timeout_cuts_one_attempt_and_the_retry_answers(how, caplog):
    with FakeOpenAIServer(faults=[{"kind": "drip", "seconds": DRIP, "interval": 0.25}]) as server:
        llm = client(server, timeout=60, attempt_timeout=1.0, max_retries=2)
        start = time.monotonic()
        with caplog.at_level(logging.INFO, logger="backprose"):
            assert call(llm, how).text == "echo: x"
        assert time.monotonic() - start < DRIP / 2
        assert server.calls == 2
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 1 and "attempt 1 of 3 failed" in retries[0] and "LLMTimeoutError" in retries[0]


def test_every_attempt_past_attempt_timeout_names_that_limit():
    with FakeOpenAIServer(faults=[{"kind": "hang", "seconds": 3.0}] * 2) as server:
        with pytest.raises(LLMTimeoutError, match=r"within 0.3s \(2 attempts; attempt_timeout=") as info:
            client(server, attempt_timeout=0.3, max_retries=1).complete("x")
        assert info.value.per_attempt and server.base_url in str(info.value)
        assert server.calls == 2


def test_a_backoff_that_would_pass_the_deadline_is_not_waited_out(caplog):
    with FakeOpenAIServer(faults=[{"kind": "status", "status": 429, "retry_after": 30}]) as server:
        start = time.monotonic()
        with caplog.at_level(logging.INFO, logger="backprose"):
            with pytest.raises(LLMRateLimited, match="1 attempts"):
                client(server, timeout=1.0, max_retries=3).complete("x")
        assert time.monotonic() - start < 10
        assert server.calls == 1
    assert any("would pass its deadline" in r.getMessage() for r in caplog.records)


def test_waiting_for_a_free_slot_does_not_count_against_the_timeout():
    """Eight calls through one slot take about 8 x 0.3 s in all, past the 2 s timeout; each call's own
    request takes 0.3 s, so none times out."""
    with FakeOpenAIServer(latency=0.3) as server:
        llm = client(server, timeout=2.0, max_concurrency=1, max_retries=0)
        results: list[object] = []
        threads = [threading.Thread(target=lambda i=i: results.append(llm.complete(f"q{i}").text)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == sorted(f"echo: q{i}" for i in range(8))
        assert server.max_in_flight == 1


def test_sync_calls_work_inside_a_running_event_loop():
    """A sync call from a coroutine (a plain function called from async code) blocks, and still answers."""
    with FakeOpenAIServer() as server:
        llm = client(server)

        async def main():
            return llm.complete("inside")

        assert asyncio.run(main()).text == "echo: inside"
        llm.close()
        assert llm.complete("after close").text == "echo: after close"  # a closed client starts again


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"timeout": -1}, {"attempt_timeout": 0}])
def test_timeouts_must_be_positive(kw):
    with pytest.raises(ValueError, match="timeout"):
        OpenAI(model="m", base_url="http://127.0.0.1:9/v1", **kw)


def _child_call(llm, queue):
    queue.put(llm.complete("from the child").text)


def test_a_forked_child_gets_its_own_loop_for_sync_calls():
    """Threads do not survive a fork: the child must start its own loop instead of waiting on a dead one."""
    import multiprocessing

    with FakeOpenAIServer() as server:
        llm = client(server)
        assert llm.complete("parent").text == "echo: parent"  # the parent's loop thread is running
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_child_call, args=(llm, queue))
        child.start()
        assert queue.get(timeout=120) == "echo: from the child"
        child.join(timeout=60)
        assert child.exitcode == 0
        assert llm.complete("parent again").text == "echo: parent again"
