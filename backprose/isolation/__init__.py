"""Run LLM-written code in worker processes with time and memory limits, never in the caller's process."""

from backprose.isolation.default import default_sandbox, use_sandbox
from backprose.isolation.limits import Limits
from backprose.isolation.result import IsolatedResult
from backprose.isolation.sandbox import Sandbox

__all__ = ["IsolatedResult", "Limits", "Sandbox", "default_sandbox", "use_sandbox"]
