"""A tiny stdlib-only wrapper that runs a server and takes it down as soon as its owner goes away.

Run as `python server_guard.py OWNER_PID -- CMD...` with stdin a pipe from the owning process. It stops
CMD when:
- stdin reaches EOF (the owner closed it, exited, or was SIGKILLed: the kernel closes its end), or
- it gets SIGTERM/SIGINT, or, on Linux, the owner dies (PR_SET_PDEATHSIG, which the guard sets on itself
  first thing; setting it here rather than in the owner's `preexec_fn` keeps the owner's fork safe when it
  has threads running).
CMD itself gets PR_SET_PDEATHSIG=SIGTERM against this guard, so even a SIGKILLed guard leaves no orphan.
It is executed by path (not `-m`) so it starts without importing backprose or its dependencies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1
PARENT_GONE_SIGNAL = signal.SIGHUP  # what the owner asks the kernel to send us if it dies


def set_parent_death_signal(sig: int) -> None:
    """Ask Linux to send `sig` to this process when its parent thread dies; a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    set_parent_death_signal(PARENT_GONE_SIGNAL)
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print("usage: server_guard.py OWNER_PID -- CMD [ARGS...]", file=sys.stderr)
        return 2
    owner, argv = int(argv[0]), argv[2:]
    stop = threading.Event()
    reason: list[str] = []

    def stop_because(why: str) -> None:
        reason.append(why)
        stop.set()

    def on_signal(signum: int, _frame: object) -> None:
        # PDEATHSIG also fires when the owner's *thread* that spawned us exits while the owner lives on;
        # only a changed parent pid means the owner is really gone.
        if signum == PARENT_GONE_SIGNAL and os.getppid() == owner:
            return
        stop_because(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGINT, PARENT_GONE_SIGNAL):
        signal.signal(sig, on_signal)
    if os.getppid() != owner:  # the owner died before PDEATHSIG and the handlers were in place
        return 1

    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_child_setup)

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):  # raw fd: a buffered stdin would hold a lock that breaks exit
                pass
        except OSError:
            pass
        stop_because("owner closed stdin or exited")

    def watch_child() -> None:
        child.wait()
        stop_because(f"server exited with code {child.returncode}")

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=watch_child, daemon=True).start()
    while not stop.wait(0.5):
        if os.getppid() != owner:  # belt and braces where PDEATHSIG does not exist
            stop_because("owner process is gone")
    print(f"server_guard: stopping the server: {reason[0]}", file=sys.stderr, flush=True)
    return _stop(child)


def _child_setup() -> None:
    set_parent_death_signal(signal.SIGTERM)


def _stop(child: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    stopping_it = child.poll() is None
    if stopping_it:
        child.terminate()
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    code = child.returncode
    if code < 0 and not stopping_it:  # died of a signal on its own (a crash): report it shell-style
        return 128 - code
    return max(code, 0)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: the watcher threads may still be blocked in read/wait
