"""The worker side: a fresh interpreter that runs LLM-written source, one request at a time.

This file imports only the standard library and is started by path (never imported from backprose), so
the worker starts fast and works under `python -I`. Protocol: length-prefixed pickles on one socket; the
parent sends {"op": "call", ...} and reads back one reply per request.
"""

from __future__ import annotations

import builtins
import faulthandler
import importlib
import linecache
import os
import pickle
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback

HEADER = struct.Struct("!Q")
_THIS_FILE = os.path.abspath(__file__) if "__file__" in globals() else "<worker>"
_CODE_CACHE_SIZE = 64


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
    # Only the soft limit moves, so a later call may raise it again within the same worker.
    soft, hard = resource.getrlimit(which)
    want = resource.RLIM_INFINITY if value is None else value
    if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
        want = hard
    if want != soft:
        resource.setrlimit(which, (want, hard))


def apply_limits(limits: dict) -> None:
    """Set the kernel limits for the coming call; CPU time is cumulative, so add it to what was used."""
    _set_soft_limit(resource.RLIMIT_AS, limits.get("memory_bytes"))
    _set_soft_limit(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = limits.get("cpu_seconds")
    spent = int(used.ru_utime + used.ru_stime)
    _set_soft_limit(resource.RLIMIT_CPU, None if cpu is None else spent + cpu + 1)


def _watch_parent(parent: int) -> None:
    # If the parent dies mid-call, nobody will kill us on timeout: exit on our own.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


class _Runner:
    """Executes requests; keeps a small cache of compiled code keyed by (source, filename)."""

    def __init__(self) -> None:
        self.code_cache: dict[tuple[str, str], object] = {}

    def compile(self, source: str, filename: str):
        key = (source, filename)
        code = self.code_cache.get(key)
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
            if len(self.code_cache) >= _CODE_CACHE_SIZE:
                self.code_cache.pop(next(iter(self.code_cache)))
            self.code_cache[key] = code
        return code

    def namespace(self, req: dict) -> dict:
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

    def call(self, req: dict) -> dict:
        source, filename, func_name = req["source"], req["filename"], req["func_name"]
        # Make tracebacks show the lines of the given source, as they would for a file on disk.
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        try:
            code = self.compile(source, filename)
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
            ns = self.namespace(req)
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
            if isinstance(exc, KeyboardInterrupt):
                raise
            return describe_exception(exc, filename, lines)
        return {"ok": True, "value": value}


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
        "error_message": message,
        "traceback": text,
        "lineno": lineno,
        "source_line": source_line,
        "memory_exceeded": isinstance(exc, MemoryError),
    }


def encode(reply: dict) -> bytes:
    """Pickle a reply; an unpicklable value becomes an error reply instead of a dead worker."""
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps({"ok": False, "error_type": "MemoryError", "memory_exceeded": True,
                             "error_message": "out of memory while pickling the return value"})
    except Exception as exc:  # noqa: BLE001 - pickling runs arbitrary __reduce__ code
        value = reply.get("value")
        return pickle.dumps({
            "ok": False,
            "error_type": "PicklingError",
            "error_message": (
                f"the return value ({type(value).__name__}) cannot cross the process boundary: "
                f"{type(exc).__name__}: {exc}; return plain data (str, numbers, lists, dicts, numpy arrays)"
            ),
        })


def serve(sock: socket.socket) -> None:
    """Answer requests until the parent closes the socket or asks to stop."""
    runner = _Runner()
    send_frame(sock, pickle.dumps({"op": "ready", "pid": os.getpid()}))
    while True:
        try:
            req = pickle.loads(recv_frame(sock))
        except EOFError:
            return
        if req.get("op") == "stop":
            return
        apply_limits(req.get("limits") or {})
        reply = runner.call(req)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - user code may have closed or replaced the stream
                pass
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        send_frame(sock, encode(reply))


def main(argv: list[str]) -> None:
    """Entry point: argv is [fd of the socket to the parent] (the last command-line argument)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Over-size writes fail with an OSError instead of killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Crashes, and the parent's SIGUSR1 before a timeout kill, print where the code was to stderr.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=False)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stdin.close()
    sock = socket.socket(fileno=int(argv[0]))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    serve(sock)


if __name__ == "__main__":
    main(sys.argv[-1:])
