"""Threads and asyncio tasks share one pool safely, and closing it leaves no process behind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from backprose.errors import SandboxClosed
from backprose.isolation import Limits, Sandbox

SQUARE = "import time\ndef f(x):\n    time.sleep(0.01)\n    return {'x': x, 'sq': x * x}\n"


def test_eight_threads_each_get_their_own_result(sandbox: Sandbox) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: sandbox.run(SQUARE, "f", (i,)), range(40)))
    assert [r.value for r in results] == [{"x": i, "sq": i * i} for i in range(40)]
    assert len(sandbox.worker_pids()) <= 2


def test_asyncio_gather(sandbox: Sandbox) -> None:
    async def main() -> list:
        return await asyncio.gather(*(sandbox.arun(SQUARE, "f", (i,)) for i in range(10)))

    results = asyncio.run(main())
    assert [r.value["sq"] for r in results] == [i * i for i in range(10)]


def test_event_loop_keeps_running_during_a_call(sandbox: Sandbox) -> None:
    src = "import time\ndef f():\n    time.sleep(0.3)\n    return 'slept'\n"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> str:
        task = asyncio.create_task(ticker())
        res = await sandbox.arun(src, "f")
        task.cancel()
        return res.value

    assert asyncio.run(main()) == "slept"
    assert ticks >= 5


def test_failures_in_some_threads_do_not_disturb_others() -> None:
    src = "import os, time\ndef f(i):\n    if i % 4 == 0:\n        os._exit(9)\n    if i % 4 == 1:\n" \
          "        while True: pass\n    return i\n"
    with Sandbox(limits=Limits(wall_time=1.0), workers=2) as sb, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: sb.run(src, "f", (i,)), range(12)))
    for i, res in enumerate(results):
        if i % 4 == 0:
            assert res.exit_code == 9
        elif i % 4 == 1:
            assert res.timed_out
        else:
            assert res.value == i


def test_close_leaves_no_child_processes(children: Callable[[], set[int]]) -> None:
    before = children()
    sb = Sandbox(limits=Limits(wall_time=0.5), workers=2)
    sb.warm()
    pids = set(sb.worker_pids())
    assert len(pids) == 2 and pids <= children()
    sb.run("import os\ndef f():\n    os._exit(1)\n", "f")
    sb.run("def f():\n    while True: pass\n", "f")
    sb.run("import ctypes\ndef f():\n    ctypes.string_at(0)\n", "f")
    sb.run("def f():\n    return 1\n", "f")
    sb.close()
    assert children() - before == set()
    assert sb.worker_pids() == []


def test_run_after_close_raises() -> None:
    sb = Sandbox(workers=1)
    sb.close()
    sb.close()  # idempotent
    with pytest.raises(SandboxClosed, match="closed"):
        sb.run("def f():\n    return 1\n", "f")


def test_close_while_a_call_runs_ends_it_with_an_error_result(children: Callable[[], set[int]]) -> None:
    before = children()
    sb = Sandbox(limits=Limits(wall_time=30), workers=1)
    sb.warm()
    out: list = []
    sleeper = "import time\ndef f():\n    time.sleep(30)\n"
    thread = threading.Thread(target=lambda: out.append(sb.run(sleeper, "f")))
    thread.start()
    time.sleep(0.3)
    sb.close()
    thread.join(10)
    assert not thread.is_alive()
    assert out[0].error_type == "SandboxClosed" and not out[0].ok
    assert children() - before == set()


def test_context_manager_closes() -> None:
    with Sandbox(workers=1) as sb:
        assert sb.run("def f():\n    return 7\n", "f").value == 7
    assert sb.closed
