"""One worker process seen from the caller: start it, send it a call with a deadline, kill it.

Workers are fresh interpreters started by exec (the `spawn` model, never a bare fork of a threaded
caller); each call runs in a child the worker forks from its clean state. Their stdout and stderr go to
two files in a private temp dir, so output written at the file descriptor level (C extensions,
subprocesses, a crash report) is captured too. Replies are JSON decoded by `wire`, never unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backprose.errors import WorkerStartError
from backprose.isolation import _worker, wire
from backprose.isolation.limits import Limits
from backprose.isolation.result import IsolatedResult

WORKER_PATH = Path(_worker.__file__).resolve()
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
START_TIMEOUT = 60.0
# Room for the worker's envelope around a reply of Limits.max_reply_mb.
_ENVELOPE = 64 * 1024
log = logging.getLogger("backprose")
# Variables a strict worker keeps; everything else (API keys, tokens, proxies) is dropped.
STRICT_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class _Timeout(Exception):
    pass


class _TooLarge(Exception):
    pass


def strict_environment(keep: tuple[str, ...] = (), home: str | None = None) -> dict[str, str]:
    """A scrubbed environment: a short allow-list, HOME and TMPDIR pointing at the worker's temp dir."""
    env = {k: os.environ[k] for k in (*STRICT_ENV_KEEP, *keep) if k in os.environ}
    if home is not None:
        env["HOME"] = env["TMPDIR"] = home
    return env


_DUMP_FRAME = re.compile(r'^\s*File "(.*)", line (\d+) in ', re.MULTILINE)
_DUMP_START = re.compile(r"^(Fatal Python error|Current thread|Thread 0x|Stack \(most recent)", re.MULTILINE)


def locate_from_dump(res: IsolatedResult, filename: str, source: str) -> None:
    """Move a faulthandler dump from stderr into the traceback, keeping only the code's own frames,
    and take lineno and source_line from its most recent frame in the given source."""
    start = _DUMP_START.search(res.stderr)
    if start is None:
        return
    dump = res.stderr[start.start():]
    res.stderr = res.stderr[:start.start()]
    # Drop the worker's own frames: they say nothing about the code.
    kept = [ln for ln in dump.splitlines() if not _worker_frame(ln, filename)]
    res.traceback = res.traceback or "\n".join(kept) + "\n"
    for match in _DUMP_FRAME.finditer(dump):
        if match.group(1) == filename:
            res.lineno = int(match.group(2))
            lines = source.splitlines()
            if 0 < res.lineno <= len(lines):
                res.source_line = lines[res.lineno - 1].strip()
            return


def _worker_frame(line: str, filename: str) -> bool:
    match = _DUMP_FRAME.match(line)
    if not match or match.group(1) == filename:
        return False
    return match.group(1) in (str(WORKER_PATH), "<frozen runpy>", "<string>")


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class WorkerProcess:
    """A live worker plus the bookkeeping to talk to it; not thread-safe (the pool hands it to one caller)."""

    def __init__(self, *, strict: bool = False, env_keep: tuple[str, ...] = (), python: str | None = None):
        self.calls = 0
        self.child: int | None = None
        self.tmpdir = tempfile.mkdtemp(prefix="backprose-worker-")
        self.out_path = os.path.join(self.tmpdir, "stdout")
        self.err_path = os.path.join(self.tmpdir, "stderr")
        parent_sock, child_sock = socket.socketpair()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        out_fd, err_fd = os.open(self.out_path, flags, 0o600), os.open(self.err_path, flags, 0o600)
        cmd = [python or sys.executable]
        if strict:
            cmd.append("-I")
        cmd += ["-c", _BOOT, str(WORKER_PATH), self.tmpdir, str(child_sock.fileno())]
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_fd,
                stderr=err_fd,
                pass_fds=(child_sock.fileno(),),
                env=strict_environment(env_keep, self.tmpdir) if strict else None,
                cwd=self.tmpdir if strict else None,
                close_fds=True,
                # Own process group, so a kill also takes the subprocesses the code started.
                start_new_session=True,
            )
        except OSError as exc:
            parent_sock.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise WorkerStartError(
                f"could not start a worker interpreter {cmd[0]!r}: {exc}; "
                "check the python path and free memory"
            ) from exc
        finally:
            os.close(out_fd)
            os.close(err_fd)
            child_sock.close()
        self.sock = parent_sock
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the worker has started; raise WorkerStartError with its stderr otherwise."""
        try:
            msg = json.loads(self._recv(time.monotonic() + timeout, _ENVELOPE))
            if not isinstance(msg, dict) or msg.get("event") != "ready":
                raise EOFError(f"unexpected first message {msg!r}")
        except (EOFError, OSError, _Timeout, ValueError) as exc:
            err = self.read_output(self.err_path, 4000)
            self.discard()
            raise WorkerStartError(
                f"worker interpreter did not start ({type(exc).__name__}: {exc}); its stderr:\n{err}\n"
                "fix the environment (python path, importable stdlib) or raise the memory limit"
            ) from exc

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _recv(self, deadline: float, max_size: int) -> bytes:
        def read(n: int) -> bytes:
            buf = bytearray()
            while len(buf) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Timeout()
                self.sock.settimeout(remaining)
                try:
                    chunk = self.sock.recv(min(n - len(buf), 1 << 20))
                except TimeoutError:
                    raise _Timeout() from None
                if not chunk:
                    raise EOFError("worker closed the connection")
                buf += chunk
            return bytes(buf)

        (size,) = _worker.HEADER.unpack(read(_worker.HEADER.size))
        if size > max_size:
            raise _TooLarge(size)
        return read(size)

    def call(self, request: dict[str, Any], limits: Limits) -> IsolatedResult:
        """Run one request; every outcome, including a hang or a crash, comes back as a result."""
        self.calls += 1
        for path in (self.out_path, self.err_path):
            os.truncate(path, 0)
        try:
            payload = pickle.dumps({**request, "op": "call", "limits": limits.to_worker()},
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - arguments may hold anything
            return IsolatedResult(
                ok=False, error_type="PicklingError",
                error_message="the arguments cannot cross the process boundary: "
                f"{type(exc).__name__}: {exc}; pass plain data (str, numbers, lists, dicts, numpy arrays)",
            )
        start = time.monotonic()
        cap = limits.max_reply_mb * 1024 * 1024
        try:
            self.sock.settimeout(limits.wall_time)
            _worker.send_frame(self.sock, payload)
            # The worker first imports the modules the caller named (once per worker) and forks: that is
            # not the code's time, so the wall-time clock starts when the code's process has started.
            started = json.loads(self._recv(start + START_TIMEOUT + limits.wall_time, _ENVELOPE))
            if not isinstance(started, dict) or started.get("event") != "started" or type(started["pid"]) is not int:
                raise ValueError("the first frame of a call is not 'started'")
            self.child = started["pid"]
            deadline = time.monotonic() + limits.wall_time
            raw = self._recv(deadline, cap + _ENVELOPE)
            self.child = None
            res = self._decode(raw, limits)
        except (_Timeout, TimeoutError):
            self._dump_and_kill()
            res = IsolatedResult(
                ok=False, error_type="Timeout", timed_out=True,
                error_message=f"the call ran longer than the wall-time limit of {limits.wall_time:g} s "
                "and was killed; make the code faster (or end its loops), or raise Limits.wall_time",
            )
        except (EOFError, OSError):
            res = self._died(limits)
        except _TooLarge as exc:
            self.kill()  # the rest of the frame is still in the socket: this worker cannot be read again
            res = self._too_large(exc.args[0], limits)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The worker itself broke the protocol: nothing it says from now on can be trusted.
            log.warning("isolation: refused a frame from worker %s (%s); the worker was discarded", self.pid,
                        type(exc).__name__)
            self.kill()
            res = IsolatedResult(
                ok=False, error_type="MalformedReply",
                error_message=f"the worker sent a frame that is not a reply ({type(exc).__name__}); it was "
                "refused and the worker discarded; a fresh worker runs the next call",
            )
        res.wall_time = time.monotonic() - start
        res.stdout = self.read_output(self.out_path, limits.max_output)
        res.stderr = self.read_output(self.err_path, limits.max_output)
        if not res.ok and res.lineno is None and res.stderr:
            locate_from_dump(res, request["filename"], request["source"])
        return res

    def _dump_and_kill(self) -> None:
        # faulthandler in the worker prints the stack on SIGUSR1, even inside a tight loop, so a
        # timeout still says which line was running.
        try:
            if self.child is None:
                raise ProcessLookupError
            os.kill(self.child, signal.SIGUSR1)
            deadline = time.monotonic() + 0.2
            size = -1
            while time.monotonic() < deadline:
                time.sleep(0.02)
                now = os.path.getsize(self.err_path)
                if now == size and size > 0:
                    break
                size = now
        except OSError:
            pass
        self.kill()

    def _decode(self, raw: bytes, limits: Limits) -> IsolatedResult:
        """Turn the worker's outcome frame into a result; the reply inside it is only ever parsed as data."""
        head, _, payload = raw.partition(b"\n")
        event = json.loads(head)
        kind = event["event"]
        if kind == "ended":
            return self._ended(event["exit_code"], limits)
        if kind == "too_large":
            return self._too_large(event["size"], limits)
        if kind == "extra":
            log.warning("isolation: refused the reply of a call whose code wrote to its own reply channel")
            return IsolatedResult(
                ok=False, error_type="MalformedReply",
                error_message="the code wrote to its process's reply channel besides returning; the reply was "
                "refused; return the value instead of writing to file descriptors you did not open",
            )
        if kind != "reply":
            raise ValueError(f"unknown event {kind!r}")
        try:
            reply = wire.decode_reply(payload)
        except wire.MalformedReply as exc:
            log.warning("isolation: refused a malformed reply from the code's process: %s", exc)
            return IsolatedResult(
                ok=False, error_type="MalformedReply",
                error_message=f"the code's process sent a reply that is not valid data ({exc}); it was refused "
                "(code that writes to the process's own reply channel gets this); return a value instead",
            )
        if reply.get("memory_exceeded"):
            detail = f" ({reply['error_message']})" if reply.get("error_message") else ""
            reply["error_message"] = (
                f"the call ran out of memory (limit {limits.memory_mb} MiB){detail}; "
                "use less memory (stream, avoid huge lists), or raise Limits.memory_mb"
            )
        return IsolatedResult(**reply)

    @staticmethod
    def _too_large(size: int, limits: Limits) -> IsolatedResult:
        log.warning("isolation: refused a reply of %d bytes (cap %d MiB)", size, limits.max_reply_mb)
        return IsolatedResult(
            ok=False, error_type="ReplyTooLarge",
            error_message=f"the reply is {size} bytes, above the cap of {limits.max_reply_mb} MiB; return less "
            "data (a summary, a file path), or raise Limits.max_reply_mb",
        )

    def _died(self, limits: Limits) -> IsolatedResult:
        """The worker itself ended mid-call (killed from outside, or by the Sandbox closing)."""
        self.signal_kill()
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        return self._ended(code, limits)

    @staticmethod
    def _ended(code: int | None, limits: Limits) -> IsolatedResult:
        """The process running the code ended before replying, with exit status `code` (minus a signal)."""
        if code == -signal.SIGXCPU:
            return IsolatedResult(
                ok=False, error_type="CPUTimeLimit", timed_out=True, exit_code=code,
                error_message=f"the call used more than {limits.effective_cpu_time} s of CPU time and was "
                "stopped; make the code faster, or raise Limits.cpu_time",
            )
        if code == -signal.SIGKILL:
            # We did not send it (that path is the timeout above): the kernel's OOM killer did.
            return IsolatedResult(
                ok=False, error_type="MemoryLimit", memory_exceeded=True, exit_code=code,
                error_message="the worker was killed (SIGKILL), most likely for using too much memory; "
                "use less memory, or lower Limits.memory_mb so the code gets a MemoryError instead",
            )
        if code is not None and code < 0:
            return IsolatedResult(
                ok=False, error_type="WorkerCrashed", exit_code=code,
                error_message=f"the worker process died from {_signal_name(code)} (a crash in native code "
                "or a signal it sent itself); see stderr, and avoid the crashing call",
            )
        return IsolatedResult(
            ok=False, error_type="WorkerExited", exit_code=code,
            error_message=f"the code ended the worker process with exit status {code} (os._exit or similar) "
            "before returning; return a value or raise an exception instead",
        )

    @staticmethod
    def read_output(path: str, bound: int) -> str:
        """Read a captured stream, keeping its head and tail when it is longer than `bound` characters."""
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                if size <= 4 * bound:
                    data = f.read()
                else:
                    data = f.read(2 * bound)
                    f.seek(size - 2 * bound)
                    data += f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace")
        if len(text) <= bound and len(data) == size:
            return text
        head, tail = bound - bound // 2, bound // 2
        end = text[len(text) - tail:] if tail else ""
        return f"{text[:head]}\n...[output truncated: {size} bytes in all]...\n{end}"

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the worker to exit, then make sure it did; safe to call twice."""
        if self.alive:
            try:
                self.sock.settimeout(timeout)
                _worker.send_frame(self.sock, pickle.dumps({"op": "stop"}))
                self.proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.discard()

    def kill(self) -> None:
        """SIGKILL the worker's and the running call's process groups, reap the worker, close the socket;
        output stays readable."""
        self.signal_kill()
        self.child = None  # never signal that id again: once its group is gone, the id may be reused
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.sock.close()

    def signal_kill(self) -> None:
        """Only send SIGKILL to the worker's group and the running call's group (safe from another thread);
        the thread using the worker reaps it."""
        # A group id stays reserved while any member lives, so this cannot hit an unrelated process.
        for group in (self.child, self.pid):
            if group is None:
                continue
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def discard(self) -> None:
        """Kill the worker if needed and remove its temp dir; the pool calls this when it lets go."""
        self.kill()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
