"""One generator, two drivers: `run` and `arun` give the same results, errors and clean-up."""

import asyncio

import pytest

from backprose.steps import Call, arun, run


def double(x):
    if x < 0:
        raise ValueError("negative")
    return 2 * x


async def adouble(x):
    await asyncio.sleep(0)
    return double(x)


def steps(x, log):
    """Two calls; a failed first call is retried once with its absolute value."""
    try:
        try:
            first = yield Call(double, adouble, (x,))
        except ValueError as exc:
            log.append(f"caught {exc}")
            first = yield Call(double, adouble, (-x,))
        second = yield Call(double, adouble, (first,))
        return second + 1
    finally:
        log.append("finally")


@pytest.mark.parametrize("x", [3, -3])
def test_both_drivers_give_the_same_result_and_the_same_path(x):
    sync_log, async_log = [], []
    assert run(steps(x, sync_log)) == asyncio.run(arun(steps(x, async_log))) == 4 * abs(x) + 1
    assert sync_log == async_log


def test_an_error_the_steps_do_not_handle_leaves_both_drivers_the_same_way():
    def failing(log):
        try:
            yield Call(double, adouble, (-1,))
        finally:
            log.append("finally")

    sync_log, async_log = [], []
    with pytest.raises(ValueError, match="negative"):
        run(failing(sync_log))
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(arun(failing(async_log)))
    assert sync_log == async_log == ["finally"]


def test_a_cancelled_call_still_runs_the_steps_clean_up():
    log = []

    async def forever(_):
        await asyncio.sleep(3600)

    def waiting():
        try:
            yield Call(forever, forever, (None,))
        finally:
            log.append("finally")

    async def main():
        task = asyncio.create_task(arun(waiting()))
        await asyncio.sleep(0)  # the task starts and reaches its call
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert log == ["finally"]
