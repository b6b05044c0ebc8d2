"""Threads and asyncio tasks build separate, correct graphs: tracing state lives in ContextVars."""

import asyncio
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

import backprose as bp


def _worker_graph(seed: int, barrier: threading.Barrier, results: dict) -> None:
    p = bp.param(seed, name=f"p{seed}")
    barrier.wait()
    with bp.scope():
        x = p
        for i in range(200):
            if x > 10**9:  # never true, but records a control condition every step
                x = x - 1
            x = x + i
            if i == 100:
                with bp.no_trace():
                    pass
    results[seed] = x


@given(st.integers(2, 6))
@settings(max_examples=5, deadline=None)
def test_threads_do_not_mix_graphs(n_threads):
    barrier = threading.Barrier(n_threads)
    results: dict = {}
    threads = [threading.Thread(target=_worker_graph, args=(s, barrier, results)) for s in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, out in results.items():
        assert out.value == seed + sum(range(200))
        params = bp.parameters_of(out)
        assert [p.name for p in params] == [f"p{seed}"]


def test_no_trace_in_one_thread_does_not_affect_another():
    entered, release = threading.Event(), threading.Event()

    def untraced():
        with bp.no_trace():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=untraced)
    t.start()
    entered.wait(5)
    a = bp.param(1)
    out = a + 1
    release.set()
    t.join()
    assert out.parents == (a,)


def test_asyncio_tasks_keep_their_own_scopes_and_graphs():
    async def task(seed: int):
        flag = bp.param(seed % 2 == 0, name=f"flag{seed}")
        with bp.scope():
            await asyncio.sleep(0)
            if flag:
                await asyncio.sleep(0)
            out = bp.Node(seed, name="seed") + 1
            await asyncio.sleep(0)
        return seed, flag, out

    async def main():
        return await asyncio.gather(*(task(s) for s in range(20)))

    for seed, flag, out in asyncio.run(main()):
        assert out.value == seed + 1
        assert len(out.control) == 1 and out.control[0] is flag  # its own condition, whichever way it went
