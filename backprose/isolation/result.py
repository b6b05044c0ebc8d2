"""The outcome of one isolated call: failures are data here, so the core can turn them into ErrorNodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backprose.errors import IsolatedCallError


@dataclass
class IsolatedResult:
    """Everything the caller may want to know about one call, whether it returned, raised or died."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    """Exception class name ("ZeroDivisionError"), or a worker-level cause: "Timeout", "MemoryLimit",
    "CPUTimeLimit", "WorkerCrashed", "WorkerExited", "PicklingError" (arguments), "UnsupportedReturnType",
    "ReplyTooLarge", "MalformedReply"."""
    error_message: str = ""
    traceback: str = ""
    lineno: int | None = None
    """Line in the given source where the error happened (deepest frame in that source)."""
    source_line: str | None = None
    timed_out: bool = False
    memory_exceeded: bool = False
    exit_code: int | None = None
    """Set only when the worker process ended: its exit status, or minus the signal that killed it."""
    stdout: str = ""
    stderr: str = ""
    wall_time: float = 0.0

    def unwrap(self) -> Any:
        """The value if the call returned, else raise IsolatedCallError carrying this result."""
        if not self.ok:
            raise IsolatedCallError(self)
        return self.value

    def describe(self) -> str:
        """A short human (and LLM) readable account of the failure, empty when ok."""
        if self.ok:
            return ""
        where = ""
        if self.lineno is not None:
            where = f" at line {self.lineno}"
            if self.source_line:
                where += f": {self.source_line}"
        return f"{self.error_type}: {self.error_message}{where}"
