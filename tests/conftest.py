"""Shared fixtures. `local_llm` is the embedded model, started once per test session for `live` tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from backprose.errors import LocalModelUnavailable


@pytest.fixture(scope="session")
def local_llm() -> Iterator[Any]:
    """A `Local()` client on the default model; one server for the whole session.

    Without the `[local]` extra this skips, except in CI (`CI` set), where a silently skipped live suite
    would hide a broken install: there it fails with the install command.
    """
    from backprose.llm.local import Local

    try:
        client = Local()
    except LocalModelUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"live tests need the embedded model in CI: {err}", pytrace=False)
        pytest.skip(f"embedded model not installed: {err}")
    with client:
        yield client
