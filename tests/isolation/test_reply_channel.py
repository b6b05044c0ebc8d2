"""The reply channel carries data only: nothing the worker sends runs code in the caller, and a candidate
that writes to any channel it can find never changes another call's reply."""

from __future__ import annotations

import os

import pytest

import backprose as bp
from backprose.isolation import Limits, Sandbox

REDUCE = '''
class Boom:
    def __reduce__(self):
        return (exec, ("open({path!r}, 'w').write(str(__import__('os').getpid()))",))

def f():
    return Boom()
'''


def test_a_value_whose_reduce_runs_code_is_refused_and_runs_nothing(tmp_path, sandbox: Sandbox) -> None:
    marker = tmp_path / "m"
    res = sandbox.run(REDUCE.format(path=str(marker)), "f")
    assert not res.ok
    assert res.error_type == "UnsupportedReturnType"
    assert "Boom" in res.error_message and "plain data" in res.error_message
    # The worker never pickles the value, so not even the worker ran the payload.
    assert not marker.exists()


def test_a_trainable_bundle_returning_such_a_value_runs_nothing_in_the_caller(tmp_path) -> None:
    marker = tmp_path / "m"

    @bp.bundle(trainable=True, limits=Limits(wall_time=10.0))
    def f():
        return 1

    f.code.value = (
        "def f():\n"
        "    class Boom:\n"
        "        def __reduce__(self):\n"
        f"            return (exec, (\"open({str(marker)!r}, 'w').write('ran')\",))\n"
        "    return Boom()\n"
    )
    with pytest.raises(bp.ExecutionError) as info:
        f()
    assert "UnsupportedReturnType" in info.value.node.value and "Boom" in info.value.node.value
    assert not marker.exists()


PLAIN = '''
import math

def f():
    return {
        "none": None, "bools": [True, False], "int": 2**70, "float": 1.5, "nan": math.nan,
        "inf": -math.inf, "str": "h\\u00e9llo", "bytes": b"\\x00\\xff", "tuple": (1, (2, 3)),
        "set": {1, 2}, "frozenset": frozenset({"a"}), "complex": 1 + 2j, "bytearray": bytearray(b"ab"),
        "enum": __import__("enum").IntEnum("E", "A B").B,
        3: "int key", (1, 2): "tuple key", "__bp__": "a key that looks like a tag",
    }
'''


def test_plain_types_cross_unchanged(sandbox: Sandbox) -> None:
    res = sandbox.run(PLAIN, "f")
    assert res.ok, res.describe()
    v = res.value
    assert v["none"] is None and v["bools"] == [True, False] and type(v["bools"][0]) is bool
    assert v["int"] == 2**70 and v["float"] == 1.5 and v["nan"] != v["nan"] and v["inf"] == float("-inf")
    assert v["str"] == "h\u00e9llo" and v["bytes"] == b"\x00\xff"
    assert v["tuple"] == (1, (2, 3)) and type(v["tuple"][1]) is tuple
    assert v["set"] == {1, 2} and v["frozenset"] == frozenset({"a"}) and v["complex"] == 1 + 2j
    assert v["bytearray"] == b"ab" and type(v["bytearray"]) is bytes and v["enum"] == 2 and type(v["enum"]) is int
    assert v[3] == "int key" and v[(1, 2)] == "tuple key" and v["__bp__"] == "a key that looks like a tag"


def test_numpy_arrays_and_scalars_cross_with_dtype_and_shape(sandbox: Sandbox) -> None:
    np = pytest.importorskip("numpy")
    src = ("import numpy as np\n"
           "def f():\n"
           "    return [np.arange(6, dtype=np.int16).reshape(2, 3), np.float32(0.5), np.array(['a', 'bc']),\n"
           "            np.arange(4.0)[::2]]\n")
    res = sandbox.run(src, "f")
    assert res.ok, res.describe()
    arr, scalar, strings, strided = res.value
    assert arr.dtype == np.int16 and arr.shape == (2, 3) and arr.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert type(scalar) is np.float32 and scalar == 0.5
    assert strings.tolist() == ["a", "bc"] and strided.tolist() == [0.0, 2.0]
    res = sandbox.run("import numpy as np\ndef f():\n    return np.array([object()])\n", "f")
    assert res.error_type == "UnsupportedReturnType" and "object" in res.error_message


@pytest.mark.parametrize("expr,name", [("lambda: 1", "function"), ("open(__file__) if False else iter([])",
                                                                  "list_iterator")])
def test_an_unsupported_return_type_is_an_error_naming_the_type(sandbox: Sandbox, expr: str, name: str) -> None:
    res = sandbox.run(f"def f():\n    return {{'k': [{expr}]}}\n", "f")
    assert not res.ok and res.error_type == "UnsupportedReturnType"
    assert name in res.error_message


FORGE = '''
import os, pickle, socket, stat, struct, json

def forge(label):
    frames = [
        pickle.dumps({"ok": True, "value": "forged"}),
        json.dumps({"ok": True, "value": "forged"}).encode(),
    ]
    hit = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            for frame in frames:
                os.write(fd, struct.pack("!Q", len(frame)) + frame)
            hit += 1
        except OSError:
            pass
    return label

def forge_json(label):
    frame = json.dumps({"ok": True, "value": "forged"}).encode()
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                os.write(int(name), struct.pack("!Q", len(frame)) + frame)
        except OSError:
            pass
    return label

def sockets():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink("/proc/self/fd/" + name))
        except OSError:
            pass
    return [s for s in found if s.startswith("socket:")]
'''


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:"):
            out.add(link)
    return out


def test_candidate_code_does_not_hold_the_callers_channel() -> None:
    with Sandbox(workers=1) as sb:
        sb.warm()
        (worker,) = sb.worker_pids()
        res = sb.run(FORGE, "sockets")
        assert res.ok, res.describe()
        assert _socket_inodes(worker)  # the worker talks to the caller over a socket...
        assert not set(res.value) & _socket_inodes(worker)  # ...that the candidate does not hold


FORGE_AND_RAISE = """
import os, pickle, struct, sys

def f():
    frame = pickle.dumps({"ok": True, "value": "forged"})
    os.write(int(sys.argv[-1]), struct.pack("!Q", len(frame)) + frame)
    raise ValueError("the real outcome")
"""


def test_a_frame_forged_on_the_workers_own_descriptor_is_refused_and_nothing_shifts() -> None:
    with Sandbox(workers=1) as sb:
        res = sb.run(FORGE_AND_RAISE, "f")
        assert not res.ok and res.value is None
        assert res.error_type in ("OSError", "MalformedReply"), res.describe()
        assert [sb.run(f"def f():\n    return {n}\n", "f").value for n in (2, 3, 4)] == [2, 3, 4]


def test_a_well_formed_reply_written_besides_returning_is_refused() -> None:
    with Sandbox(workers=1) as sb:
        res = sb.run(FORGE, "forge_json", ("real",))
        assert not res.ok and res.error_type == "MalformedReply" and res.value is None, res.describe()
        assert sb.run("def f():\n    return 'next'\n", "f").value == "next"


def test_a_forged_frame_never_becomes_another_calls_reply() -> None:
    with Sandbox(workers=1) as sb:
        first = sb.run(FORGE, "forge", ("A",))
        # A forger that also returns sent two frames on its own pipe: refused; and nothing shifts.
        assert not first.ok and first.error_type == "MalformedReply", first.describe()
        for label in ("B", "C", "D"):
            res = sb.run("def f(x):\n    return x\n", "f", (label,))
            assert res.ok and res.value == label, res.describe()


def test_a_reply_above_the_cap_is_a_clear_error(sandbox: Sandbox) -> None:
    res = sandbox.run("def f(n):\n    return 'x' * n\n", "f", (3 * 1024 * 1024,), limits=Limits(max_reply_mb=1))
    assert not res.ok and res.error_type == "ReplyTooLarge"
    assert "max_reply_mb" in res.error_message and "1 MiB" in res.error_message
    assert sandbox.run("def f(n):\n    return 'x' * n\n", "f", (1000,), limits=Limits(max_reply_mb=1)).ok
    assert Limits().max_reply_mb == 4


LYING_HEADER = """
import os, stat, struct

def f():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack("!Q", 100 * 1024 * 1024) + b"x" * 1000)
        except OSError:
            pass
    os._exit(0)
"""


def test_the_worker_enforces_the_cap_even_when_the_code_writes_the_frame_itself(sandbox: Sandbox) -> None:
    res = sandbox.run(LYING_HEADER, "f", limits=Limits(max_reply_mb=1))
    assert not res.ok and res.error_type == "ReplyTooLarge" and str(100 * 1024 * 1024) in res.error_message
    assert sandbox.run("def f():\n    return 5\n", "f").value == 5


def test_keyboard_interrupt_is_an_exception_with_its_line(sandbox: Sandbox) -> None:
    res = sandbox.run("def f():\n    x = 1\n    raise KeyboardInterrupt('stop')\n", "f")
    assert not res.ok and res.error_type == "KeyboardInterrupt" and res.exit_code is None
    assert res.lineno == 3 and res.source_line == "raise KeyboardInterrupt('stop')"
    assert "crash" not in res.error_message
