"""`.ci/run` runs exactly the README's test command, then `ruff check .`; run here with stub `pip` and
`python` on PATH that log their arguments, so the order and the exit status are checked, not the text."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".ci" / "run"
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$*" in *pytest*) exit {pytest};; *ruff*) exit {ruff};; esac
exit 0
"""


def readme_test_command() -> str:
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    commands = [b.strip() for b in blocks if "pip install" in b and "pytest" in b]
    assert len(commands) == 1, commands
    return commands[0]


def run_ci(tmp_path: Path, pytest_status: int, ruff_status: int) -> tuple[int, list[str]]:
    log = tmp_path / "calls.log"
    for name in ("pip", "python"):
        stub = tmp_path / name
        stub.write_text(STUB.format(log=log, pytest=pytest_status, ruff=ruff_status))
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, log.read_text().splitlines()


def test_ci_script_holds_the_readme_command_verbatim():
    assert readme_test_command() in RUN.read_text()


@pytest.mark.parametrize("pytest_status, ruff_status, expected", [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1)])
def test_ci_installs_tests_then_lints_and_fails_when_either_fails(tmp_path, pytest_status, ruff_status,
                                                                   expected):
    status, calls = run_ci(tmp_path, pytest_status, ruff_status)
    assert calls == ["pip install -e .[dev,local,bench]", "python -m pytest", "python -m ruff check ."]
    assert (status != 0) == bool(expected)
