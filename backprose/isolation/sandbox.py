"""A pool of warm worker processes that run LLM-written source with limits, from threads or asyncio."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backprose.errors import SandboxClosed
from backprose.isolation.limits import Limits
from backprose.isolation.process import WorkerProcess
from backprose.isolation.result import IsolatedResult


class _Pool:
    """The mutable part of a Sandbox, kept apart so a finalizer can close it without holding the Sandbox."""

    def __init__(self, size: int, spawn_kwargs: dict[str, Any]):
        self.size = size
        self.spawn_kwargs = spawn_kwargs
        self.cond = threading.Condition()
        self.idle: list[WorkerProcess] = []
        self.busy: set[WorkerProcess] = set()
        self.starting = 0
        self.closed = False
        self.pid = os.getpid()

    def acquire(self) -> WorkerProcess:
        if os.getpid() != self.pid:
            raise SandboxClosed(
                f"this Sandbox belongs to process {self.pid}, not to this forked child; create a new "
                "Sandbox in the child (default_sandbox() does so by itself)"
            )
        with self.cond:
            while True:
                if self.closed:
                    raise SandboxClosed("this Sandbox is closed; create a new one or use default_sandbox()")
                while self.idle:
                    worker = self.idle.pop()
                    if worker.alive:
                        self.busy.add(worker)
                        return worker
                    worker.discard()
                if len(self.busy) + self.starting < self.size:
                    self.starting += 1
                    break
                self.cond.wait()
        # Start outside the lock: other callers keep using warm workers meanwhile.
        try:
            worker = WorkerProcess(**self.spawn_kwargs)
            try:
                worker.wait_ready()
            except BaseException:
                worker.discard()
                raise
        finally:
            with self.cond:
                self.starting -= 1
                self.cond.notify()
        with self.cond:
            if self.closed:
                worker.discard()
                raise SandboxClosed("this Sandbox was closed while a worker started; create a new one")
            self.busy.add(worker)
        return worker

    def release(self, worker: WorkerProcess, *, reuse: bool) -> None:
        with self.cond:
            self.busy.discard(worker)
            keep = reuse and not self.closed and worker.alive
            if keep:
                self.idle.append(worker)
            self.cond.notify()
        if not keep:
            worker.discard()

    def close(self) -> None:
        if os.getpid() != self.pid:
            return  # a forked child must not stop its parent's workers
        with self.cond:
            self.closed = True
            workers = self.idle + list(self.busy)
            self.idle.clear()
            self.cond.notify_all()
            busy = set(self.busy)
        for worker in workers:
            if worker in busy:
                # Killed mid-call; the calling thread sees the socket close, reaps it and cleans up.
                worker.signal_kill()
            else:
                worker.stop()


class Sandbox:
    """Runs functions given as source text in separate worker processes, under `Limits`.

    Workers start on demand (up to `workers` at once) and stay warm between calls; each call runs in a
    fresh child a worker forks from its clean state, so no call sees what an earlier one changed. A
    worker that is killed or exits is replaced by a fresh one on a later call. `strict=True` starts workers
    with `python -I`, a scrubbed environment (only `env_keep` and a short allow-list survive, so no
    API keys) and a private temp dir as cwd and HOME.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        workers: int = 2,
        *,
        strict: bool = False,
        env_keep: Iterable[str] = (),
        max_calls_per_worker: int | None = None,
        python: str | None = None,
    ):
        if workers < 1:
            raise ValueError(f"Sandbox needs at least 1 worker, got workers={workers}")
        if max_calls_per_worker is not None and max_calls_per_worker < 1:
            raise ValueError(f"max_calls_per_worker must be >= 1 or None, got {max_calls_per_worker}")
        self.limits = limits or Limits()
        self.workers = workers
        self.strict = strict
        self.max_calls_per_worker = max_calls_per_worker
        self._pool = _Pool(workers, {"strict": strict, "env_keep": tuple(env_keep), "python": python})
        self._finalizer = weakref.finalize(self, _Pool.close, self._pool)

    def run(
        self,
        source: str,
        func_name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        filename: str = "<optimized>",
        limits: Limits | None = None,
        globals: Mapping[str, Any] | None = None,
        modules: Sequence[str] = (),
        preload: Sequence[str] = (),
    ) -> IsolatedResult:
        """Exec `source` in a fresh namespace in a worker; return the outcome of `func_name(*args, **kwargs)`.

        `globals` (plain data) and `modules` (names like "math" or "numpy as np") are put in the namespace
        first. `preload` names modules the code itself imports (a harness, say): the worker imports them
        once, so each call's fresh child starts with them loaded; they are not put in the namespace. Never
        raises for what the code does: errors, hangs and crashes are results.
        """
        limits = limits or self.limits
        request = {
            "source": source,
            "func_name": func_name,
            "filename": filename,
            "args": tuple(args),
            "kwargs": dict(kwargs or {}),
            "globals": dict(globals or {}),
            "modules": list(modules),
            "preload": list(preload),
        }
        worker = self._pool.acquire()
        reuse = False
        try:
            result = worker.call(request, limits)
            reuse = self.max_calls_per_worker is None or worker.calls < self.max_calls_per_worker
        finally:
            self._pool.release(worker, reuse=reuse)
        if self._pool.closed and not result.ok and result.exit_code is not None:
            result.error_type = "SandboxClosed"
            result.memory_exceeded = False
            result.error_message = "the Sandbox was closed while this call ran; the worker was stopped"
        return result

    async def arun(
        self,
        source: str,
        func_name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> IsolatedResult:
        """Async twin of `run`: the blocking wait happens in a thread, so the event loop keeps running."""
        call = functools.partial(self.run, source, func_name, args, kwargs, **options)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def warm(self) -> None:
        """Start every worker now, so the first calls do not pay the interpreter start-up."""
        started = [self._pool.acquire() for _ in range(self.workers)]
        for worker in started:
            self._pool.release(worker, reuse=True)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        with self._pool.cond:
            return [w.pid for w in (*self._pool.idle, *self._pool.busy) if w.alive]

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def close(self) -> None:
        """Stop all workers and free their temp dirs; calls still running get an error result."""
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.worker_pids())} live"
        return f"Sandbox(workers={self.workers}, strict={self.strict}, {state}, limits={self.limits})"
