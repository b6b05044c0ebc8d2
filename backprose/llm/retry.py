"""When and how long to retry a failed model call: transient failures only, backoff with jitter.

Transient means rate limits (429), timeouts, dropped connections, 5xx and unreadable bodies. A server's
Retry-After (or retry-after-ms) wins over our own backoff, capped so a bad header cannot stall a run.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

MAX_RETRY_AFTER = 60.0


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may fix."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code == 408 or exc.status_code >= 500
    return isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError))


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` or `Retry-After` (seconds or a date)."""
    response: Any = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


class wait_retry_after(wait_base):
    """Honour the server's Retry-After when it sent one; otherwise exponential backoff with full jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.fallback = wait_random_exponential(multiplier=initial, max=maximum)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = retry_after(outcome.exception() if outcome is not None else None)
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER)
        return self.fallback(retry_state)


def _policy(max_retries: int, initial: float, maximum: float) -> dict[str, Any]:
    return {
        "retry": retry_if_exception(is_transient),
        "wait": wait_retry_after(initial, maximum),
        "stop": stop_after_attempt(max_retries + 1),
        "reraise": True,
    }


def retrying(max_retries: int, initial: float = 0.5, maximum: float = 30.0) -> Retrying:
    return Retrying(**_policy(max_retries, initial, maximum))


def async_retrying(max_retries: int, initial: float = 0.5, maximum: float = 30.0) -> AsyncRetrying:
    return AsyncRetrying(**_policy(max_retries, initial, maximum))
