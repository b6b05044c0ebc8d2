"""The guarded server process: health wait, clear failures, clean stop, and no orphan after a crash.

A tiny stdlib HTTP "server" stands in for llama.cpp so these run in seconds; one live test repeats the
crash check with the real server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from backprose.errors import LocalServerError
from backprose.llm import local_server
from backprose.llm.local_server import LocalServer, ServerConfig, _free_port

DUMMY = textwrap.dedent(
    """
    import http.server, os, signal, sys, time
    port, mode = int(sys.argv[1]), sys.argv[2]
    print("dummy server starting", "OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", ""), flush=True)
    if mode == "crash":
        print("error: failed to load model: bad magic", flush=True)
        sys.exit(3)
    if mode == "hang":
        time.sleep(600)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.reply(b'{"object": "list", "data": [{"id": "dummy"}]}')
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            if mode == "segv":
                print("ggml_backend_amx_mul_mat: about to crash", flush=True)
                os.kill(os.getpid(), signal.SIGSEGV)
            self.reply(b'{"choices": [{"text": "!"}]}')
        def reply(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture()
def dummy(tmp_path: Path) -> Path:
    path = tmp_path / "dummy_server.py"
    path.write_text(DUMMY)
    return path


def start_dummy(dummy: Path, tmp_path: Path, mode: str = "serve", timeout: float = 20) -> LocalServer:
    port = _free_port()
    config = ServerConfig(model_path=dummy, alias="dummy", port=port)
    return LocalServer(
        config,
        startup_timeout=timeout,
        log_path=tmp_path / "server.log",
        command=[sys.executable, str(dummy), str(port), mode],
    )


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan reaped late by a container's init still counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if running(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return [p for p in pids if running(p)]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_starts_answers_and_stops_cleanly(dummy: Path, tmp_path: Path) -> None:
    server = start_dummy(dummy, tmp_path)
    server_pids = children(server.pid)
    try:
        assert server.alive() and len(server_pids) == 1
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        # llama.cpp's OpenMP threads must sleep, not spin, while they wait: spinning starves small machines
        assert "dummy server starting OMP_WAIT_POLICY=PASSIVE" in (tmp_path / "server.log").read_text()
    finally:
        server.stop()
    assert wait_gone([server.pid, *server_pids]) == []
    server.stop()  # idempotent


def test_child_that_dies_raises_with_its_log_tail(dummy: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalServerError) as err:
        start_dummy(dummy, tmp_path, mode="crash")
    assert "bad magic" in str(err.value) and "server.log" in str(err.value)


def test_server_that_crashes_on_inference_fails_at_start_with_a_fix(dummy: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalServerError) as err:
        start_dummy(dummy, tmp_path, mode="segv")
    message = str(err.value)
    assert "exit code 139" in message and "SIGSEGV" in message and "GGML_NATIVE=OFF" in message
    assert "about to crash" in message


def test_server_that_never_answers_times_out_and_is_stopped(dummy: Path, tmp_path: Path) -> None:
    before = set(children(os.getpid()))
    with pytest.raises(LocalServerError, match="did not answer"):
        start_dummy(dummy, tmp_path, mode="hang", timeout=1.5)
    leaked = [p for p in set(children(os.getpid())) - before if running(p)]
    assert leaked == []


def test_closing_the_guard_stdin_stops_the_server(dummy: Path) -> None:
    port = _free_port()
    guard = subprocess.Popen(
        [sys.executable, str(local_server._GUARD), str(os.getpid()), "--",
         sys.executable, str(dummy), str(port), "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not children(guard.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        server_pids = children(guard.pid)
        assert server_pids
        guard.stdin.close()
        assert guard.wait(20) == 0
        assert wait_gone(server_pids) == []
    finally:
        kill_all([guard.pid])


def test_spawning_thread_exit_does_not_stop_the_server(dummy: Path, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG fires when the spawning *thread* ends; the guard must ignore that false alarm."""
    box: list[LocalServer] = []
    worker = threading.Thread(target=lambda: box.append(start_dummy(dummy, tmp_path)))
    worker.start()
    worker.join()
    server = box[0]
    try:
        time.sleep(1.0)
        assert server.alive() and children(server.pid)
    finally:
        server.stop()


OWNER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from test_local_server import start_dummy, children
    from pathlib import Path
    server = start_dummy(Path({dummy!r}), Path({tmp!r}))
    sibling = 0
    if {fork_sibling!r}:
        sibling = os.fork()  # inherits the guard's stdin pipe, so only the parent-death signal can help
        if sibling == 0:
            time.sleep(120)
            os._exit(0)
    print(server.pid, *children(server.pid), sibling, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("fork_sibling", [False, True], ids=["plain", "pipe-held-by-sibling"])
def test_sigkill_of_the_owner_leaves_no_orphan(dummy: Path, tmp_path: Path, fork_sibling: bool) -> None:
    script = OWNER.format(
        tests=str(Path(__file__).parent), dummy=str(dummy), tmp=str(tmp_path), fork_sibling=fork_sibling
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        line = owner.stdout.readline()
        *pids, sibling = [int(p) for p in line.split()]
        assert len(pids) == 2, line  # guard and server
        assert all(running(p) for p in pids)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert wait_gone(pids) == []
    finally:
        kill_all([owner.pid, *pids] + ([sibling] if pids and sibling else []))


def test_acquire_shares_one_server_and_the_last_release_stops_it(
    dummy: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(local_server, "server_available", lambda: True)
    monkeypatch.setattr(
        ServerConfig, "command", lambda self, port: [sys.executable, str(dummy), str(port), "serve"]
    )
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path))
    config = ServerConfig(model_path=dummy, alias="shared")
    first = local_server.acquire(config, startup_timeout=20)
    second = local_server.acquire(config, startup_timeout=20)
    try:
        assert first is second
        local_server.release(config)
        assert first.alive()
    finally:
        local_server.release(config)
    assert wait_gone([first.pid]) == []
    assert (tmp_path / "logs" / f"llama-server-shared-{first.port}.log").is_file()


def test_a_dead_server_is_replaced_and_its_old_users_do_not_release_the_new_one(
    dummy: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(local_server, "server_available", lambda: True)
    monkeypatch.setattr(
        ServerConfig, "command", lambda self, port: [sys.executable, str(dummy), str(port), "serve"]
    )
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path))
    config = ServerConfig(model_path=dummy, alias="replaced")
    old = local_server.acquire(config, startup_timeout=20)
    kill_all(children(old.pid))
    assert wait_gone([old.pid]) == []
    new = local_server.acquire(config, startup_timeout=20)
    try:
        assert new is not old and new.alive()
        local_server.release(config, old)
        assert new.alive()
    finally:
        local_server.release(config, new)
    assert wait_gone([new.pid]) == []
