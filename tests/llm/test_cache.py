import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprose.errors import CacheMiss
from backprose.llm import OpenAI, ResponseCache, Scripted
from backprose.llm.cache import request_key
from backprose.testing import FakeOpenAIServer

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
options = st.dictionaries(st.text(min_size=1, max_size=8), json_scalars, max_size=6)


@given(options)
def test_key_ignores_option_order(opts):
    msgs = [{"role": "user", "content": "x"}]
    reordered = dict(reversed(list(opts.items())))
    assert request_key("m", msgs, opts) == request_key("m", msgs, reordered)


@given(options, st.text(min_size=1, max_size=8), json_scalars)
def test_key_changes_with_any_option(opts, name, value):
    msgs = [{"role": "user", "content": "x"}]
    changed = {**opts, name: value}
    if changed != opts:
        assert request_key("m", msgs, opts) != request_key("m", msgs, changed)


def test_key_separates_model_messages_and_samples():
    msgs = [{"role": "user", "content": "x"}]
    keys = {
        request_key("a", msgs, {}),
        request_key("b", msgs, {}),
        request_key("a", [{"role": "user", "content": "y"}], {}),
        request_key("a", msgs, {"seed": 1}),
        request_key("a", msgs, {}, sample_index=0),
        request_key("a", msgs, {}, sample_index=1),
    }
    assert len(keys) == 6


def test_nothing_is_created_until_the_first_write(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    assert cache.get("k") is None and len(cache) == 0
    assert not (tmp_path / "c").exists()
    cache.put("k", {"model": "m"}, {"text": "t"})
    assert cache.get("k") == {"text": "t"} and "k" in cache


def test_importing_backprose_creates_no_files(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("BACKPROSE_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", "import backprose, backprose.llm, backprose.testing"],
                   env=env, check=True, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_second_identical_run_makes_zero_model_calls(tmp_path):
    with FakeOpenAIServer() as server:
        first = OpenAI(model="fake-model", base_url=server.base_url, cache=str(tmp_path))
        answers = [first.complete(f"q{i}", temperature=0).text for i in range(5)]
        assert server.calls == 5 and first.usage.calls == 5
        second = OpenAI(model="fake-model", base_url=server.base_url, cache=str(tmp_path))
        again = [second.complete(f"q{i}", temperature=0) for i in range(5)]
        assert server.calls == 5
    assert [c.text for c in again] == answers and all(c.cached for c in again)
    assert second.usage.calls == 0 and second.usage.cache_hits == 5


def test_replay_mode_runs_offline_and_names_the_missing_hash(tmp_path):
    with FakeOpenAIServer() as server:
        OpenAI(model="fake-model", base_url=server.base_url, cache=str(tmp_path)).complete("known")
        url = server.base_url
    replay = OpenAI(model="fake-model", base_url=url, cache=ResponseCache(tmp_path, mode="replay"))
    assert replay.complete("known").text == "echo: known"  # server is stopped: no call was made
    with pytest.raises(CacheMiss) as info:
        replay.complete("unknown")
    assert info.value.key in str(info.value) and "responses.sqlite3" in str(info.value)


def test_replay_of_a_missing_cache_creates_nothing(tmp_path):
    cache = ResponseCache(tmp_path / "none", mode="replay")
    with pytest.raises(CacheMiss):
        cache.get("k")
    assert not (tmp_path / "none").exists()


def test_record_mode_always_asks_and_off_mode_stores_nothing(tmp_path):
    replies = iter(["old", "new"])
    llm = Scripted(lambda m: next(replies), cache=str(tmp_path))
    assert llm.complete("q").text == "old"
    recorder = Scripted(lambda m: next(replies), cache=ResponseCache(tmp_path, mode="record"))
    assert recorder.complete("q").text == "new"
    assert Scripted(lambda m: "x", cache=str(tmp_path)).complete("q").text == "new"
    off = ResponseCache(tmp_path / "off", mode="off")
    off.put("k", {}, {"text": "t"})
    assert off.get("k") is None and not (tmp_path / "off").exists()


def test_environment_can_switch_a_cache_to_replay(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROSE_CACHE_MODE", "replay")
    with pytest.raises(CacheMiss):
        Scripted(["never used"], cache=str(tmp_path)).complete("q")


def test_threads_share_one_cache(tmp_path):
    cache = ResponseCache(tmp_path)

    def work(t):
        for i in range(25):
            cache.put(f"{t}-{i}", {"model": "m"}, {"text": str(i)})
            assert cache.get(f"{t}-{i}") == {"text": str(i)}

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 200


def test_processes_write_one_cache_concurrently(tmp_path):
    code = textwrap.dedent("""
        import sys
        from backprose.llm.cache import ResponseCache
        cache = ResponseCache(sys.argv[1])
        for i in range(40):
            cache.put(f"{sys.argv[2]}-{i}", {"model": "m"}, {"text": str(i)})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(p)]) for p in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert len(ResponseCache(tmp_path)) == 160


def test_sigkill_mid_run_repeats_no_finished_call(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import sys
        from backprose.llm import OpenAI
        llm = OpenAI(model="fake-model", base_url=sys.argv[1], cache=sys.argv[2], max_concurrency=1)
        for i in range(6):
            llm.complete(f"q{i}")
    """))
    cache_dir = tmp_path / "cache"
    with FakeOpenAIServer(latency=0.3) as server:
        args = [sys.executable, str(script), server.base_url, str(cache_dir)]
        proc = subprocess.Popen(args)
        assert server.wait_for_requests(4, timeout=60)  # q0..q2 answered, q3 in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        finished = [b["messages"][-1]["content"] for b in server.responded]
        seen = server.calls
        assert finished == ["q0", "q1", "q2"]
        subprocess.run(args, check=True, timeout=60)
        rerun = [b["messages"][-1]["content"] for b in server.requests[seen:]]
    assert rerun == ["q3", "q4", "q5"]
