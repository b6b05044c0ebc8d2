"""The counting proxy: routing by model, counts per label and role, temperature pinning, the shared cache."""

import json
import threading
import urllib.request

import openai
import pytest

from backprose.testing_server import FakeOpenAIServer, completion_payload
from bench.suite.proxy import Proxy, Route

PROGRAM, OPTIMIZER = "small", "large"


@pytest.fixture
def servers():
    with FakeOpenAIServer(models=[PROGRAM], reply=lambda b: "p:" + b["messages"][-1]["content"]) as p, \
            FakeOpenAIServer(models=[OPTIMIZER], reply=lambda b: "o:" + b["messages"][-1]["content"]) as o:
        yield p, o


def make_proxy(servers, tmp_path=None, **kw):
    p, o = servers
    return Proxy([Route(PROGRAM, p.base_url, "program", 0.0), Route(OPTIMIZER, o.base_url, "optimizer", 0.7)],
                 cache_path=None if tmp_path is None else tmp_path / "cache.jsonl", **kw)


def ask(url, model, text, **options):
    client = openai.OpenAI(base_url=url, api_key="k", max_retries=0)
    try:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **options)
    finally:
        client.close()


def test_each_request_goes_to_the_server_of_its_model_and_is_counted_under_its_label_and_role(servers):
    p, o = servers
    with make_proxy(servers) as proxy:
        for i in range(3):
            assert ask(proxy.url("a"), PROGRAM, f"q{i}").choices[0].message.content == f"p:q{i}"
        for i in range(2):
            assert ask(proxy.url("a"), OPTIMIZER, f"r{i}").choices[0].message.content == f"o:r{i}"
        ask(proxy.url("b"), OPTIMIZER, "s")
        a, b = proxy.counts("a"), proxy.counts("b")
    assert (p.calls, o.calls) == (3, 3)
    assert (a["program"].calls, a["optimizer"].calls, set(b), b["optimizer"].calls) == (3, 2, {"optimizer"}, 1)
    # tokens are the server's own usage figures, summed
    usage = [completion_payload(r, "p:" + r["messages"][-1]["content"])["usage"] for r in p.requests]
    assert a["program"].prompt_tokens == sum(u["prompt_tokens"] for u in usage)
    assert a["program"].tokens == sum(u["total_tokens"] for u in usage)


def test_a_model_no_route_serves_is_refused_and_counted_as_unrouted(servers):
    with make_proxy(servers) as proxy:
        with pytest.raises(openai.NotFoundError, match="small .program., large .optimizer."):
            ask(proxy.url("a"), "gpt-9", "q")
        assert proxy.counts("a")["unrouted"].errors == 1
    assert servers[0].calls == servers[1].calls == 0


def test_the_temperature_sent_is_recorded_and_the_pinned_one_is_forwarded(servers):
    p, o = servers
    with make_proxy(servers) as proxy:
        ask(proxy.url("a"), OPTIMIZER, "x", temperature=0.2)
        ask(proxy.url("a"), OPTIMIZER, "y")  # no temperature: the server's default would apply
        ask(proxy.url("a"), PROGRAM, "z", temperature=0.9)
        counts = proxy.counts("a")
    assert [r["temperature"] for r in o.requests] == [0.7, 0.7]
    assert p.requests[0]["temperature"] == 0.0
    assert counts["optimizer"].temperatures_sent == [0.2, None]
    assert counts["program"].temperatures_sent == [0.9]


def test_identical_program_requests_share_one_reply_across_labels_and_count_as_hits(servers):
    p, o = servers
    with make_proxy(servers) as proxy:
        first = ask(proxy.url("a"), PROGRAM, "q", max_tokens=8)
        again = ask(proxy.url("b"), PROGRAM, "q", max_tokens=8, temperature=0)
        other = ask(proxy.url("b"), PROGRAM, "q", max_tokens=9)  # another max_tokens: another request
        ask(proxy.url("a"), OPTIMIZER, "o")
        ask(proxy.url("a"), OPTIMIZER, "o")  # optimizer requests are never served from the cache
        a, b = proxy.counts("a"), proxy.counts("b")
    assert p.calls == 2 and o.calls == 2
    assert first.choices[0].message.content == again.choices[0].message.content == other.choices[0].message.content
    assert (a["program"].cache_hits, b["program"].calls, b["program"].cache_hits) == (0, 2, 1)
    assert b["program"].tokens == 2 * a["program"].tokens > 0  # a hit carries the usage the server reported


def test_text_parts_and_default_fields_do_not_split_the_cache(servers):
    p, _ = servers
    with make_proxy(servers) as proxy:
        ask(proxy.url("a"), PROGRAM, "q")
        client = openai.OpenAI(base_url=proxy.url("b"), api_key="k", max_retries=0)
        client.chat.completions.create(model=PROGRAM, n=1, seed=3, messages=[
            {"role": "user", "content": [{"type": "text", "text": "q"}]}])
        client.close()
        assert proxy.counts("b")["program"].cache_hits == 1
    assert p.calls == 1


def test_the_cache_persists_in_the_run_folder_and_survives_a_cut_last_line(servers, tmp_path):
    p, _ = servers
    with make_proxy(servers, tmp_path) as proxy:
        ask(proxy.url("a"), PROGRAM, "q1")
        ask(proxy.url("a"), PROGRAM, "q2")
    with (tmp_path / "cache.jsonl").open("a") as fh:
        fh.write('{"key": "abc", "reply": {"cho')  # a kill in the middle of a write
    with make_proxy(servers, tmp_path) as proxy:
        assert ask(proxy.url("a"), PROGRAM, "q1").choices[0].message.content == "p:q1"
        ask(proxy.url("a"), PROGRAM, "q2")
        assert proxy.counts("a")["program"].cache_hits == 2
    assert p.calls == 2


def test_a_failed_reply_is_not_cached(servers):
    p, _ = servers
    p.add_faults("500")
    with make_proxy(servers) as proxy:
        with pytest.raises(openai.InternalServerError):
            ask(proxy.url("a"), PROGRAM, "q")
        assert ask(proxy.url("a"), PROGRAM, "q").choices[0].message.content == "p:q"
        counts = proxy.counts("a")["program"]
    assert (p.calls, counts.calls, counts.errors, counts.cache_hits) == (2, 2, 1, 0)


def test_concurrent_identical_requests_make_one_upstream_call_and_distinct_ones_run_at_once(servers):
    p, _ = servers
    p.latency = 0.3
    with make_proxy(servers) as proxy:
        replies = [None] * 12

        def go(i):
            replies[i] = ask(proxy.url("a"), PROGRAM, "same" if i < 6 else f"q{i}").choices[0].message.content

        threads = [threading.Thread(target=go, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = proxy.counts("a")["program"]
    assert replies[:6] == ["p:same"] * 6 and replies[6:] == [f"p:q{i}" for i in range(6, 12)]
    assert (p.calls, counts.calls, counts.cache_hits) == (7, 12, 5)
    assert p.max_in_flight > 1


def test_the_model_list_of_both_servers_passes_through(servers):
    with make_proxy(servers) as proxy:
        with urllib.request.urlopen(proxy.url("a") + "/models") as resp:
            ids = [m["id"] for m in json.loads(resp.read())["data"]]
    assert ids == [PROGRAM, OPTIMIZER]


def test_a_renamed_route_sends_the_servers_own_name_and_lists_the_clients_name():
    with FakeOpenAIServer(models=["served-q4"]) as server:
        with Proxy([Route("small", server.base_url, "program", 0.0, upstream_model="served-q4")]) as proxy:
            assert ask(proxy.url("a"), "small", "q").choices[0].message.content == "echo: q"
            with urllib.request.urlopen(proxy.base_url + "/models") as resp:
                assert [m["id"] for m in json.loads(resp.read())["data"]] == ["small"]
        assert server.requests[0]["model"] == "served-q4"
