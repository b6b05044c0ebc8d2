"""HTTP 200 bodies that are not usable completions: retried when another attempt may help, reported with
the server's own text, and never cached as an empty answer."""

import logging

import pytest
from openai_helpers import call, client

from backprose.errors import LLMBadReply, LLMNoContent
from backprose.llm import ResponseCache
from backprose.testing import FakeOpenAIServer


def body(message=None, **choice):
    return {"id": "c", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": message, **choice}]}


MALFORMED = {
    "missing choices": ({"id": "c", "object": "chat.completion"}, "has no `choices`"),
    "empty choices": ({"id": "c", "choices": []}, "`choices` is empty"),
    "choices not a list": ({"id": "c", "choices": {"0": {"message": {"content": "hi"}}}}, "not a list"),
    "choice without message": ({"id": "c", "choices": [{"index": 0}]}, "choice 0 has no message"),
    "message without content": (body({"role": "assistant"}), "has no `content`"),
    "content null": (body({"role": "assistant", "content": None}), "content is null"),
    "content not text": (body({"role": "assistant", "content": 42}), "content is not text"),
    "body not an object": ([1, 2], "not a JSON object"),
}


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_choices_are_retried_like_transient_errors(case, how, caplog):
    bad, _ = MALFORMED[case]
    with FakeOpenAIServer(faults=[{"kind": "body", "body": bad}] * 2) as server:
        llm = client(server, max_retries=2)
        with caplog.at_level(logging.INFO, logger="backprose"):
            assert call(llm, how).text == "echo: x"
        assert server.calls == 3
    assert sum(r.getMessage().startswith("retrying") and "LLMBadReply" in r.getMessage()
               for r in caplog.records) == 2


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_choices_past_every_retry_name_the_defect(case):
    bad, problem = MALFORMED[case]
    with FakeOpenAIServer(faults=[{"kind": "body", "body": bad}] * 2) as server:
        with pytest.raises(LLMBadReply, match=r"answered HTTP 200 without a usable completion \(2 attempts\)") as info:
            client(server, max_retries=1).complete("x")
        assert problem in str(info.value) and server.base_url in str(info.value)
        assert info.value.status == 200 and server.calls == 2


def test_an_error_object_in_a_200_is_reported_with_the_servers_text():
    error = {"error": {"message": "This model's maximum context length is 4096 tokens; you asked for 9000",
                       "type": "invalid_request_error", "code": "context_length_exceeded"}}
    with FakeOpenAIServer(faults=[{"kind": "body", "body": error}]) as server:
        with pytest.raises(LLMBadReply) as info:
            client(server, max_retries=3).complete("x")
        message = str(info.value)
        assert "maximum context length is 4096 tokens; you asked for 9000" in message
        assert "context_length_exceeded" in message
        assert server.calls == 1  # a request the server refuses is not sent again


def test_an_error_without_a_code_is_reported_as_is_and_not_retried():
    with FakeOpenAIServer(faults=[{"kind": "body", "body": {"error": "worker crashed"}}]) as server:
        with pytest.raises(LLMBadReply, match="the server sent an error: worker crashed"):
            client(server, max_retries=3).complete("x")
        assert server.calls == 1


@pytest.mark.parametrize("error", [
    {"message": "upstream overloaded, try again", "type": "server_error", "code": 503},
    {"message": "rate limit reached for requests", "code": "rate_limit_exceeded"},
    {"message": "model is overloaded", "type": "overloaded"},
])
def test_an_error_object_that_says_try_again_is_retried(error):
    with FakeOpenAIServer(faults=[{"kind": "body", "body": {"error": error}}]) as server:
        assert client(server, max_retries=1).complete("x").text == "echo: x"
        assert server.calls == 2
    with FakeOpenAIServer(faults=[{"kind": "body", "body": {"error": error}}]) as server:
        with pytest.raises(LLMBadReply) as info:
            client(server, max_retries=0).complete("x")
        assert error["message"] in str(info.value) and info.value.transient


@pytest.mark.parametrize("how", ["sync", "async"])
def test_null_content_is_not_cached_and_a_later_call_asks_again(tmp_path, how):
    null = body({"role": "assistant", "content": None}, finish_reason="length")
    with FakeOpenAIServer(faults=[{"kind": "body", "body": null}]) as server:
        cache = ResponseCache(tmp_path)
        llm = client(server, max_retries=0, cache=cache)
        with pytest.raises(LLMBadReply, match=r"content is null \(finish_reason 'length'\)"):
            call(llm, how)
        assert len(cache) == 0
        assert call(llm, how).text == "echo: x"  # the server is asked again
        assert server.calls == 2 and len(cache) == 1
        assert call(llm, how).cached and server.calls == 2


def test_a_refusal_is_reported_with_its_text_never_retried_nor_cached(tmp_path):
    refusal = body({"role": "assistant", "content": None, "refusal": "I can't help with that request."})
    with FakeOpenAIServer(faults=[{"kind": "body", "body": refusal}]) as server:
        cache = ResponseCache(tmp_path)
        llm = client(server, max_retries=3, cache=cache)
        with pytest.raises(LLMNoContent, match="refused: \"I can't help with that request.\"") as info:
            llm.complete("x")
        assert info.value.refusal == "I can't help with that request."
        assert server.calls == 1 and len(cache) == 0
        assert llm.complete("x").text == "echo: x"


def test_tool_calls_without_content_name_the_tools(tmp_path):
    calls = [{"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
             {"id": "t2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]
    reply = body({"role": "assistant", "content": None, "tool_calls": calls}, finish_reason="tool_calls")
    with FakeOpenAIServer(faults=[{"kind": "body", "body": reply}]) as server:
        cache = ResponseCache(tmp_path)
        with pytest.raises(LLMNoContent, match=r"called tools \(get_weather, get_time\).*tool_choice") as info:
            client(server, max_retries=3, cache=cache).complete("x")
        assert info.value.tool_calls == ["get_weather", "get_time"]
        assert server.calls == 1 and len(cache) == 0


def test_an_empty_string_is_a_real_answer_and_is_cached(tmp_path):
    with FakeOpenAIServer(reply="") as server:
        cache = ResponseCache(tmp_path)
        llm = client(server, cache=cache)
        assert llm.complete("x").text == "" and server.calls == 1
        assert llm.complete("x").cached and server.calls == 1


def test_content_given_as_parts_is_joined():
    parts = body({"role": "assistant", "content": [{"type": "text", "text": "Hello, "},
                                                   {"type": "text", "text": "world"}]})
    with FakeOpenAIServer(faults=[{"kind": "body", "body": parts}]) as server:
        completion = client(server).complete("x")
        assert completion.text == "Hello, world" and completion.raw["choices"][0]["message"]["content"][1]
