"""A private event loop on a daemon thread, so a sync call runs the very code of its async twin.

Sync calls get what only asyncio offers cleanly: a deadline that cancels a request in the middle of a read
(a server dripping one byte at a time defeats every per-read socket timeout), and a cancelled request when
the caller is interrupted.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=5.0)
    if not thread.is_alive():
        loop.close()


class BackgroundLoop:
    """Started on first use, again in a forked child (threads do not survive a fork), stopped by `close()`
    or when its owner is garbage-collected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._finalizer: weakref.finalize | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._finalizer = weakref.finalize(self, _stop, loop, thread)
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for it; if the wait is interrupted, the coroutine is cancelled."""
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync model call was made from inside the client's own event loop; await the "
                               "async method (acomplete) there instead")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop of this process, or None before the first call and after `close()`."""
        if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
            return None
        return self._loop

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None and self._pid == os.getpid():
                self._finalizer()
            self._loop = self._thread = self._finalizer = None
