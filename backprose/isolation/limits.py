"""Resource limits for one isolated call: plain data, so a call can override the sandbox default."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one call of LLM-written code may use before it is stopped.

    `wall_time` is enforced by the parent (the worker is killed and replaced); the others are kernel
    rlimits set inside the worker, so they hold even if the parent is busy or gone.
    """

    wall_time: float = 10.0
    """Seconds of real time for the call; the parent SIGKILLs the worker past it."""
    memory_mb: int | None = 1024
    """Address-space cap (RLIMIT_AS) in MiB; allocations beyond it raise MemoryError. None: no cap."""
    cpu_time: float | None = None
    """CPU seconds for the call (RLIMIT_CPU backstop); None means ceil(wall_time) + 1."""
    max_output: int = 64_000
    """Characters of stdout and of stderr kept in the result; the middle of longer output is elided."""
    max_file_mb: int | None = 256
    """Largest file the code may write (RLIMIT_FSIZE), so a print loop cannot fill the disk."""
    max_reply_mb: int = 4
    """Largest reply (the encoded return value or error) in MiB; a bigger one is a ReplyTooLarge result."""

    def __post_init__(self) -> None:
        if not self.wall_time > 0:
            raise ValueError(f"Limits.wall_time must be > 0 seconds, got {self.wall_time!r}")
        if self.memory_mb is not None and self.memory_mb < 32:
            raise ValueError(f"Limits.memory_mb must be >= 32 (interpreter needs), got {self.memory_mb}")
        if self.cpu_time is not None and not self.cpu_time > 0:
            raise ValueError(f"Limits.cpu_time must be > 0 seconds or None, got {self.cpu_time!r}")
        if self.max_output < 0:
            raise ValueError(f"Limits.max_output must be >= 0, got {self.max_output}")
        if self.max_file_mb is not None and self.max_file_mb < 1:
            raise ValueError(f"Limits.max_file_mb must be >= 1 or None, got {self.max_file_mb}")
        if not isinstance(self.max_reply_mb, int) or self.max_reply_mb < 1:
            raise ValueError(f"Limits.max_reply_mb must be a whole number of MiB >= 1, got {self.max_reply_mb!r}")

    @property
    def effective_cpu_time(self) -> int:
        """Whole CPU seconds the worker may spend on one call (rlimits count whole seconds)."""
        if self.cpu_time is not None:
            return max(1, math.ceil(self.cpu_time))
        return math.ceil(self.wall_time) + 1

    def to_worker(self) -> dict:
        """The part of the limits the worker enforces itself, as plain data."""
        return {
            "memory_bytes": None if self.memory_mb is None else self.memory_mb * 1024 * 1024,
            "cpu_seconds": self.effective_cpu_time,
            "file_bytes": None if self.max_file_mb is None else self.max_file_mb * 1024 * 1024,
            "reply_bytes": self.max_reply_mb * 1024 * 1024,
        }
