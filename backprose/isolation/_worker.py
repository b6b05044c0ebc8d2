"""The worker side: a warm interpreter that forks one fresh child per call to run LLM-written source.

This file imports only the standard library and is started by path (never imported from backprose), so
the worker starts fast and works under `python -I`. The warm parent never runs candidate code: for each
call it forks a child, which closes the parent's channel to the caller before any candidate code runs and
answers on a pipe of its own. The parent reads at most one capped reply from that pipe, kills the child's
process group, and sends the caller two frames: "started" (the child's pid) and the outcome. Caller to
worker: pickles (the caller is trusted). Worker to caller: JSON only (see wire.py).
"""

from __future__ import annotations

import builtins
import ctypes
import faulthandler
import importlib
import importlib.util
import json
import linecache
import os
import pickle
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import traceback
import warnings

HEADER = struct.Struct("!Q")
_THIS_FILE = os.path.abspath(__file__) if "__file__" in globals() else "<worker>"
_TEXT_BOUND = 20_000  # characters of an error message or traceback kept in a reply
_PR_SET_PDEATHSIG = 1


def _load_wire():
    path = os.path.join(os.path.dirname(_THIS_FILE), "wire.py")
    spec = importlib.util.spec_from_file_location("_backprose_wire", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """Write one length-prefixed message."""
    sock.sendall(HEADER.pack(len(payload)) + payload)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes, or raise EOFError if the peer closed first."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("peer closed the connection")
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes:
    """Read one length-prefixed message."""
    (size,) = HEADER.unpack(recv_exact(sock, HEADER.size))
    return recv_exact(sock, size)


def _set_soft_limit(which: int, value: int | None) -> None:
    soft, hard = resource.getrlimit(which)
    want = resource.RLIM_INFINITY if value is None else value
    if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
        want = hard
    if want != soft:
        resource.setrlimit(which, (want, hard))


def apply_limits(limits: dict) -> None:
    """Set the kernel limits in the child that runs the call (its CPU clock starts at the fork)."""
    _set_soft_limit(resource.RLIMIT_AS, limits.get("memory_bytes"))
    _set_soft_limit(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = limits.get("cpu_seconds")
    spent = int(used.ru_utime + used.ru_stime)
    _set_soft_limit(resource.RLIMIT_CPU, None if cpu is None else spent + cpu + 1)


# --- the child: runs one call, answers once, exits ------------------------------------------------------

def namespace(req: dict) -> dict:
    ns: dict = {"__name__": "__optimized__", "__builtins__": builtins, "__file__": req["filename"]}
    for spec in req.get("modules") or ():
        name, _, alias = (part.strip() for part in spec.partition(" as "))
        module = importlib.import_module(name)
        if alias:
            ns[alias] = module
        else:
            top = name.split(".")[0]
            ns[top] = sys.modules[top]
    ns.update(req.get("globals") or {})
    return ns


def call(req: dict) -> dict:
    """Run the request's function; every outcome, KeyboardInterrupt and SystemExit included, is a reply."""
    source, filename, func_name = req["source"], req["filename"], req["func_name"]
    # Make tracebacks show the lines of the given source, as they would for a file on disk.
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return {
            "ok": False,
            "error_type": type(exc).__name__,
            "error_message": exc.msg or str(exc),
            "traceback": "".join(traceback.format_exception_only(type(exc), exc)),
            "lineno": exc.lineno,
            "source_line": (exc.text or "").strip() or None,
        }
    try:
        ns = namespace(req)
        exec(code, ns)
        if func_name not in ns:
            raise NameError(
                f"the source defines no {func_name!r}; define a function with that name "
                "or pass the name it does define as func_name"
            )
        fn = ns[func_name]
        if not callable(fn):
            raise TypeError(f"{func_name!r} in the source is a {type(fn).__name__}, not a function")
        value = fn(*req.get("args", ()), **req.get("kwargs", {}))
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        return describe_exception(exc, filename, lines)
    return {"ok": True, "value": value}


def _bounded(text: str) -> str:
    if len(text) <= _TEXT_BOUND:
        return text
    half = _TEXT_BOUND // 2
    return f"{text[:half]}\n...[{len(text)} characters in all]...\n{text[-half:]}"


def describe_exception(exc: BaseException, filename: str, lines: list[str]) -> dict:
    """Turn an exception into plain data: type, message, a traceback without worker frames, failing line."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _THIS_FILE:
        tb = tb.tb_next
    lineno = None
    walk = tb
    while walk is not None:
        if walk.tb_frame.f_code.co_filename == filename:
            lineno = walk.tb_lineno
        walk = walk.tb_next
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the error
        message = f"<unprintable {type(exc).__name__}>"
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:  # noqa: BLE001
        text = f"{type(exc).__name__}: {message}\n"
    source_line = None
    if lineno is not None and 0 < lineno <= len(lines):
        source_line = lines[lineno - 1].strip()
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "error_message": _bounded(message),
        "traceback": _bounded(text),
        "lineno": lineno,
        "source_line": source_line,
        "memory_exceeded": isinstance(exc, MemoryError),
    }


def run_child(wire, req: dict, reply_sock: socket.socket) -> None:
    apply_limits(req.get("limits") or {})
    reply = call(req)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - user code may have closed or replaced the stream
            pass
    cap = (req.get("limits") or {}).get("reply_bytes") or 4 * 1024 * 1024
    send_frame(reply_sock, wire.encode_call_reply(reply, cap))


# --- the warm parent: never runs candidate code ----------------------------------------------------------

class Parent:
    """The worker's main process: forks a child per call, relays one capped reply, cleans up on exit."""

    def __init__(self, sock: socket.socket, tmpdir: str) -> None:
        self.sock = sock
        self.tmpdir = tmpdir
        self.pid = os.getpid()
        self.child: int | None = None
        self.exit_code: int | None = None
        self.wire = _load_wire()
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            self.libc = None

    def shutdown(self, *_: object) -> None:
        """Kill the running child's group, remove the temp dir, exit: on stop, SIGTERM or a vanished caller."""
        if os.getpid() != self.pid:
            os._exit(70)  # a signal that reached a fresh child before it reset its handlers
        self.kill_child()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        os._exit(0)

    def kill_child(self) -> int | None:
        """SIGKILL the child's process group (the code's subprocesses too) and reap the child."""
        pid, self.child = self.child, None
        if pid is None:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def reaped(self) -> bool:
        """Whether the child has ended; if so its status is in `exit_code` and its group is killed (a
        group outlives its leader)."""
        if self.child is None:
            return True
        pid, status = os.waitpid(self.child, os.WNOHANG)
        if not pid:
            return False
        self.child, self.exit_code = None, os.waitstatus_to_exitcode(status)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        return True

    def wait_child(self) -> int | None:
        """Wait for the child to end by itself (the caller's deadline bounds this); its exit status."""
        while not self.reaped():
            if select.select([self.sock], [], [], 0.02)[0]:
                self.shutdown()
        return self.exit_code

    def serve(self) -> None:
        send_frame(self.sock, json.dumps({"event": "ready", "pid": self.pid}).encode())
        while True:
            try:
                req = pickle.loads(recv_frame(self.sock))  # from the caller, which is trusted
            except (EOFError, OSError):
                self.shutdown()
            if req.get("op") == "stop":
                self.shutdown()
            for spec in (*(req.get("modules") or ()), *(req.get("preload") or ())):
                # Import what the caller names once here; each child gets a pristine copy.
                try:
                    importlib.import_module(spec.partition(" as ")[0].strip())
                except BaseException:  # noqa: BLE001 - the child reports the error with its line
                    pass
            try:
                self.sock.sendall(self.relay(req))
            except OSError:
                self.shutdown()  # the caller went away mid-call

    def relay(self, req: dict) -> bytes:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # else every child would inherit, and print, what an import here left buffered
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            status = 71
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                self.sock.close()  # candidate code must never hold the channel to the caller
                ours.close()
                os.setpgid(0, 0)
                if self.libc is not None:
                    self.libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                run_child(self.wire, req, theirs)
                status = 0
            finally:
                os._exit(status)
        theirs.close()
        self.child, self.exit_code = pid, None
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child already did it, or has already exited
        send_frame(self.sock, json.dumps({"event": "started", "pid": pid}).encode())
        cap = (req.get("limits") or {}).get("reply_bytes") or 4 * 1024 * 1024
        try:
            event, payload = self.read_reply(ours, cap)
        finally:
            ours.close()
        if event == "ended":
            code = self.wait_child()
            payload = json.dumps({"event": "ended", "exit_code": code}).encode()
        self.kill_child()  # also ends threads and subprocesses the code left running
        if event == "extra":
            payload = json.dumps({"event": "extra"}).encode()
        frame = b'{"event":"reply"}\n' + payload if event == "reply" else payload
        return HEADER.pack(len(frame)) + frame

    def read_reply(self, pipe: socket.socket, cap: int) -> tuple[str, bytes]:
        """At most one frame of at most `cap` bytes from the child; the caller going away ends the worker."""
        buf = bytearray()
        need = HEADER.size
        header_done = False
        while True:
            ready, _, _ = select.select([self.sock, pipe], [], [], 0.05)
            if self.sock in ready:
                self.shutdown()  # the caller never writes during a call: readable means it is gone
            if pipe not in ready:
                if self.reaped():  # ended without a reply, though a process it forked holds the pipe
                    return "ended", b""
                continue
            chunk = pipe.recv(min(1 << 20, need - len(buf)))
            if not chunk:
                return "ended", b""
            buf += chunk
            if len(buf) < need:
                continue
            if header_done:
                return ("extra" if self.more_follows(pipe) else "reply"), bytes(buf[HEADER.size:])
            (size,) = HEADER.unpack(bytes(buf))
            if size > cap:
                return "too_large", json.dumps({"event": "too_large", "size": size, "cap": cap}).encode()
            header_done, need = True, HEADER.size + size
            if size == 0:
                return ("extra" if self.more_follows(pipe) else "reply"), b""

    def more_follows(self, pipe: socket.socket) -> bool:
        """True if the child wrote more than one frame: code that wrote to its own reply pipe besides
        returning. The child exits right after its reply, so this waits for the end of the pipe."""
        while True:
            ready, _, _ = select.select([self.sock, pipe], [], [], 0.02)
            if self.sock in ready:
                self.shutdown()
            if pipe in ready:
                return pipe.recv(1) != b""
            if self.reaped():
                pipe.setblocking(False)
                try:
                    return pipe.recv(1) != b""
                except BlockingIOError:
                    return False  # a forked grandchild still holds the pipe open, silently


def main(argv: list[str]) -> None:
    """Entry point: argv ends with [the worker's temp dir, fd of the socket to the caller]."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Over-size writes fail with an OSError instead of killing the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Crashes, and the caller's SIGUSR1 before a timeout kill, print where the code was to stderr.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=False)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stdin.close()
    # A module the caller's code uses may start native threads here; forking anyway is the design, and
    # the warning would land in the call's stderr.
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
    parent = Parent(socket.socket(fileno=int(argv[-1])), argv[-2])
    signal.signal(signal.SIGTERM, parent.shutdown)
    parent.serve()


if __name__ == "__main__":
    main(sys.argv[-2:])
