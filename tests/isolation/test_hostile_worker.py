"""The caller's side of the channel holds even against a worker that is not ours: whatever it sends is
parsed as data, capped, and a worker that breaks the protocol is discarded."""

from __future__ import annotations

import os
import pickle
import stat
import sys
from pathlib import Path

import pytest

from backprose.isolation import Limits, Sandbox

FAKE_WORKER = r"""#!{python}
import json, os, pickle, socket, struct, sys
sock = socket.socket(fileno=int(sys.argv[-1]))
def send(b):
    sock.sendall(struct.pack("!Q", len(b)) + b)
def recv():
    head = b""
    while len(head) < 8:
        head += sock.recv(8 - len(head))
    (n,) = struct.unpack("!Q", head)
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    return body
mode = open({mode_file!r}).read()
send(json.dumps({{"event": "ready", "pid": os.getpid()}}).encode())
while True:
    recv()
    if mode == "not-started":
        send(b'{{"event": "reply"}}')
        continue
    send(json.dumps({{"event": "started", "pid": os.getpid()}}).encode())
    if mode == "pickle":
        send(b'{{"event":"reply"}}\n' + {pickled!r})
    elif mode == "huge":
        sock.sendall(struct.pack("!Q", 1 << 40) + b"x" * 1000)
    elif mode == "garbage":
        send(b"\xff\xfe not json")
"""


class Boom:
    def __reduce__(self):
        return (exec, (f"open({str(MARKER)!r}, 'w').write('ran')",))


MARKER = Path("/nonexistent")


@pytest.fixture
def fake(tmp_path: Path):
    global MARKER
    MARKER = tmp_path / "ran"
    mode_file = tmp_path / "mode"
    script = tmp_path / "python"
    pickled = pickle.dumps({"ok": True, "value": Boom()})
    script.write_text(FAKE_WORKER.format(python=sys.executable, mode_file=str(mode_file), pickled=pickled))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def start(mode: str) -> Sandbox:
        mode_file.write_text(mode)
        return Sandbox(workers=1, python=str(script), limits=Limits(wall_time=10, max_reply_mb=1))

    return start


@pytest.mark.parametrize("mode,error_type", [("pickle", "MalformedReply"), ("huge", "ReplyTooLarge"),
                                             ("garbage", "MalformedReply"), ("not-started", "MalformedReply")])
def test_whatever_a_worker_sends_is_data_or_refused(fake, mode: str, error_type: str) -> None:
    with fake(mode) as sb:
        sb.warm()
        (first,) = sb.worker_pids()
        res = sb.run("def f():\n    return 1\n", "f")
        assert not res.ok and res.error_type == error_type, res.describe()
        assert not MARKER.exists()  # nothing the worker sent was unpickled
        if mode != "pickle":  # a worker that broke the protocol is discarded
            assert first not in sb.worker_pids()
            assert not os.path.exists(f"/proc/{first}/cmdline") or _zombie_or_gone(first)


def _zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] == "Z"
    except (FileNotFoundError, IndexError):
        return True
