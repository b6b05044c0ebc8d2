import asyncio
import json

import pytest

from backprose.errors import CacheMiss
from backprose.llm import OpenAI
from backprose.testing import FakeOpenAIServer, Recorder, Replay, Scripted


def test_scripted_replies_in_order_and_records_prompts():
    llm = Scripted(["one", "two"])
    assert llm.complete("a").text == "one"
    assert llm.complete([{"role": "system", "content": "s"}, {"role": "user", "content": "b"}]).text == "two"
    assert llm.prompts[0] == [{"role": "user", "content": "a"}]
    assert llm.prompts[1][0]["role"] == "system"
    assert llm.remaining == 0
    assert llm.usage.calls == 2 and llm.usage.prompt_tokens > 0


def test_scripted_running_out_says_how_many_and_which_prompt():
    llm = Scripted(["only"])
    llm.complete("first")
    with pytest.raises(IndexError, match=r"1 were scripted.*'second'"):
        llm.complete("second")


def test_scripted_can_raise_and_use_a_function():
    llm = Scripted([RuntimeError("boom"), "ok"])
    with pytest.raises(RuntimeError, match="boom"):
        llm.complete("x")
    assert llm.complete("y").text == "ok"
    assert Scripted(lambda m: str(len(m))).complete("z").text == "1"


def test_recorder_then_replay_answers_offline(tmp_path):
    path = tmp_path / "run.jsonl"
    with FakeOpenAIServer() as server:
        real = OpenAI(model="fake-model", base_url=server.base_url)
        rec = Recorder(real, path)
        assert rec.complete("alpha", temperature=0).text == "echo: alpha"
        assert asyncio.run(rec.acomplete("beta")).text == "echo: beta"
        assert rec.model == "fake-model"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [row["text"] for row in lines] == ["echo: alpha", "echo: beta"]
    replay = Replay(path)
    assert replay.complete("alpha", temperature=0).text == "echo: alpha"
    assert asyncio.run(replay.acomplete("beta")).text == "echo: beta"


def test_replay_miss_names_the_request_hash(tmp_path):
    replay = Replay({})
    with pytest.raises(CacheMiss) as info:
        replay.complete("never recorded")
    assert len(info.value.key) == 64 and info.value.key in str(info.value)


def test_replay_from_dict_and_tolerates_a_torn_last_line(tmp_path):
    from backprose.llm.base import Request
    from backprose.testing import replay_key

    key = replay_key(Request([{"role": "user", "content": "q"}], {}))
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"key": key, "text": "a"}) + "\n" + '{"key": "trunc')
    assert Replay(path).complete("q").text == "a"
    assert Replay({key: "b"}).complete("q").text == "b"
