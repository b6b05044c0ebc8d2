import asyncio
import threading
from types import SimpleNamespace

import pytest

from backprose.errors import (
    LLMAuthError,
    LLMBadReply,
    LLMConnectionError,
    LLMModelNotFound,
    LLMRateLimited,
    LLMServerError,
    LLMTimeoutError,
)
from backprose.llm import OpenAI, track_usage
from backprose.llm.retry import is_transient, retry_after
from backprose.testing import FakeOpenAIServer

FAST = {"retry_initial": 0.01, "retry_max_wait": 0.05}


def client(server, **kw):
    return OpenAI(model="fake-model", base_url=server.base_url, **{**FAST, **kw})


@pytest.mark.parametrize("fault", ["429", "500", "503", "truncated", "garbage", "drop"])
def test_transient_faults_are_retried_until_an_answer(fault):
    with FakeOpenAIServer(faults=[fault, fault]) as server:
        llm = client(server, max_retries=3)
        assert llm.complete("hello").text == "echo: hello"
        assert server.calls == 3
        assert llm.usage.calls == 1


def test_attempt_timeout_is_retried_then_answers():
    with FakeOpenAIServer(faults=[{"kind": "hang", "seconds": 2.0}]) as server:
        llm = client(server, attempt_timeout=0.3, max_retries=2)
        assert llm.complete("x").text == "echo: x"
        assert server.calls == 2


def test_retry_after_header_is_honoured():
    exc = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "1.5"}))
    assert retry_after(exc) == 1.5
    assert retry_after(SimpleNamespace(response=SimpleNamespace(headers={"retry-after-ms": "250"}))) == 0.25
    assert retry_after(SimpleNamespace(response=SimpleNamespace(headers={}))) is None
    date = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert retry_after(date) == 0.0  # a date in the past means: now


def test_429_with_retry_after_then_success_through_the_server():
    with FakeOpenAIServer(faults=[{"kind": "status", "status": 429, "retry_after": 0.2}]) as server:
        llm = client(server)
        assert llm.complete("x").text == "echo: x"
        assert server.calls == 2


def test_persistent_rate_limit_gives_a_clear_error():
    with FakeOpenAIServer(faults=["429"] * 3) as server:
        with pytest.raises(LLMRateLimited, match=r"3 attempts.*max_concurrency"):
            client(server, max_retries=2).complete("x")


def test_hang_past_the_timeout_is_a_timeout_error():
    with FakeOpenAIServer(faults=[{"kind": "hang", "seconds": 2.0}] * 2) as server:
        with pytest.raises(LLMTimeoutError, match=r"within 0.2s \(1 attempts; timeout=") as info:
            client(server, timeout=0.2, max_retries=1).complete("x")
        assert server.base_url in str(info.value) and not info.value.per_attempt


def test_bad_key_names_the_env_var():
    with FakeOpenAIServer(api_key="right") as server:
        with pytest.raises(LLMAuthError, match="OPENAI_API_KEY") as info:
            OpenAI(model="fake-model", base_url=server.base_url, api_key="wrong").complete("x")
        assert server.calls == 1  # 401 is not retried
        assert server.base_url in str(info.value)


def test_missing_key_for_openai_fails_at_construction(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("BACKPROSE_BASE_URL", raising=False)
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY is not set"):
        OpenAI()


def test_wrong_model_names_model_and_url():
    with FakeOpenAIServer() as server:
        with pytest.raises(LLMModelNotFound) as info:
            OpenAI(model="no-such-model", base_url=server.base_url).complete("x")
        message = str(info.value)
        assert "no-such-model" in message and server.base_url in message and "BACKPROSE_MODEL" in message


def test_unreachable_server_names_url_and_how_to_start_one():
    with FakeOpenAIServer() as server:
        url = server.base_url
    with pytest.raises(LLMConnectionError) as info:
        OpenAI(model="m", base_url=url, max_retries=1, **FAST).complete("x")
    assert url in str(info.value) and "BACKPROSE_BASE_URL" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_client_errors_are_not_retried():
    with FakeOpenAIServer(faults=["400"]) as server:
        with pytest.raises(LLMServerError) as info:
            client(server).complete("x")
        assert info.value.status == 400 and server.calls == 1


def test_model_and_key_come_from_the_environment(monkeypatch):
    with FakeOpenAIServer(models=["served-model"]) as server:
        monkeypatch.setenv("BACKPROSE_BASE_URL", server.base_url)
        monkeypatch.delenv("BACKPROSE_MODEL", raising=False)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        llm = OpenAI()
        assert llm.model == "served-model"  # first model the server lists
        assert llm.complete("x").model == "served-model"
        monkeypatch.setenv("BACKPROSE_MODEL", "served-model")
        assert OpenAI()._model == "served-model"


def test_usage_counts_tokens_and_prices_known_models():
    with FakeOpenAIServer(models=["gpt-4o-mini"]) as server:
        llm = OpenAI(model="gpt-4o-mini", base_url=server.base_url)
        with track_usage() as step:
            c = llm.complete("hello there")
        assert step.calls == 1 and step.prompt_tokens == c.prompt_tokens > 0
        assert step.cost is not None and step.cost > 0


def test_concurrency_limit_holds_across_threads():
    with FakeOpenAIServer(latency=0.15) as server:
        llm = client(server, max_concurrency=3)
        threads = [threading.Thread(target=llm.complete, args=(f"q{i}",)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.calls == 12
        assert server.max_in_flight == 3


def test_concurrency_limit_holds_in_asyncio_and_across_event_loops():
    with FakeOpenAIServer(latency=0.15) as server:
        llm = client(server, max_concurrency=4)

        async def burst(tag):
            replies = await asyncio.gather(*(llm.acomplete(f"{tag}{i}") for i in range(10)))
            return [r.text for r in replies]

        assert asyncio.run(burst("a")) == [f"echo: a{i}" for i in range(10)]
        assert asyncio.run(burst("b")) == [f"echo: b{i}" for i in range(10)]  # a fresh loop still works
        assert server.max_in_flight == 4


def test_async_errors_are_translated_too():
    with FakeOpenAIServer() as server:
        llm = OpenAI(model="missing", base_url=server.base_url)
        with pytest.raises(LLMModelNotFound):
            asyncio.run(llm.acomplete("x"))


def test_transient_classification():
    assert not is_transient(ValueError("x"))
    assert is_transient(LLMBadReply("u", "no choices", transient=True))
    assert not is_transient(LLMBadReply("u", "context too long", transient=False))
    assert is_transient(LLMTimeoutError("u", 1.0, 1, per_attempt=True))
    assert not is_transient(LLMTimeoutError("u", 1.0, 1))


def test_cache_key_does_not_move_when_the_server_model_is_resolved():
    """Concurrent first calls race the model lookup; keys fixed at construction keep reruns replayable."""
    from backprose.llm import OpenAI

    client = OpenAI(base_url="http://127.0.0.1:9/v1")
    before = client._model_for_key()
    client._model = "resolved-name"  # what the first call's lookup does
    assert client._model_for_key() == before == "default@http://127.0.0.1:9/v1"
