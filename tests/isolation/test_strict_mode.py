"""Strict workers: isolated interpreter, scrubbed environment, private working directory."""

from __future__ import annotations

import os

import pytest

from backprose.isolation import Sandbox

PROBE = """
import os, sys
def probe():
    return {"env": dict(os.environ), "cwd": os.getcwd(), "isolated": sys.flags.isolated,
            "path": list(sys.path)}
"""


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("BACKPROSE_KEEP_ME", "yes")
    return "OPENAI_API_KEY"


def test_normal_mode_inherits_environment(secret: str) -> None:
    with Sandbox(workers=1) as sb:
        seen = sb.run(PROBE, "probe").unwrap()
    assert seen["env"].get(secret) == "sk-test-not-a-real-key"
    assert seen["cwd"] == os.getcwd()
    assert seen["isolated"] == 0


def test_strict_mode_scrubs_environment_and_uses_a_temp_cwd(secret: str) -> None:
    with Sandbox(workers=1, strict=True, env_keep=("BACKPROSE_KEEP_ME",)) as sb:
        seen = sb.run(PROBE, "probe").unwrap()
        cwd = seen["cwd"]
        assert os.path.isdir(cwd)
    assert secret not in seen["env"]
    assert not any("KEY" in k or "TOKEN" in k for k in seen["env"])
    assert seen["env"]["BACKPROSE_KEEP_ME"] == "yes"
    assert seen["env"]["HOME"] == cwd and seen["env"]["TMPDIR"] == cwd
    assert cwd != os.getcwd() and "backprose-worker-" in cwd
    assert seen["isolated"] == 1
    assert "" not in seen["path"] and os.getcwd() not in seen["path"]
    assert not os.path.exists(cwd)  # the private directory is removed with the worker


def test_strict_mode_still_runs_numpy() -> None:
    with Sandbox(workers=1, strict=True) as sb:
        res = sb.run("def f(n):\n    return float(np.arange(n).sum())\n", "f", (10,), modules=["numpy as np"])
    assert res.value == 45.0
