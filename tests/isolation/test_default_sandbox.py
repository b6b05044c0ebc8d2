"""default_sandbox(): one lazily created sandbox per process, overridable per context."""

from __future__ import annotations

import asyncio

from backprose.isolation import Sandbox, default_sandbox, use_sandbox


def test_default_is_shared_and_works() -> None:
    sb = default_sandbox()
    assert default_sandbox() is sb
    assert sb.run("def f(a, b):\n    return a * b\n", "f", (6, 7)).value == 42


def test_a_closed_default_is_replaced() -> None:
    first = default_sandbox()
    first.close()
    second = default_sandbox()
    assert second is not first and not second.closed


def test_use_sandbox_overrides_in_context_only() -> None:
    process_wide = default_sandbox()
    with Sandbox(workers=1) as mine:
        with use_sandbox(mine):
            assert default_sandbox() is mine
        assert default_sandbox() is process_wide


def test_override_does_not_leak_across_tasks() -> None:
    with Sandbox(workers=1) as mine:
        async def inside() -> Sandbox:
            with use_sandbox(mine):
                await asyncio.sleep(0.01)
                return default_sandbox()

        async def outside() -> Sandbox:
            await asyncio.sleep(0.005)
            return default_sandbox()

        async def main() -> tuple:
            return await asyncio.gather(inside(), outside())

        seen_inside, seen_outside = asyncio.run(main())
        assert seen_inside is mine and seen_outside is not mine
