"""When and how long to retry a failed model call: transient failures only, backoff with jitter, and never
past the call's deadline.

Transient means rate limits (429), 408, 5xx, dropped connections, and replies that another attempt may fix
(an unreadable body, no choices, null content, an attempt that ran past `attempt_timeout`). A server's
Retry-After (or retry-after-ms) wins over our own backoff, capped so a bad header cannot stall a run.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from backprose.errors import LLMError

MAX_RETRY_AFTER = 60.0
T = TypeVar("T")
log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may fix."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code == 408 or exc.status_code >= 500
    return isinstance(exc, LLMError) and bool(getattr(exc, "transient", False))


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


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `max_retries` more attempts after the first; exponential backoff with full jitter from `initial`
    seconds, each wait at most `maximum`, unless the server said how long to wait."""

    max_retries: int = 4
    initial: float = 0.5
    maximum: float = 30.0

    def delay(self, exc: BaseException, attempt: int) -> float:
        asked = retry_after(exc)
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER)
        return random.uniform(0, min(self.maximum, self.initial * 2 ** (attempt - 1)))


async def retrying(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    remaining: Callable[[], float | None],
    what: str,
) -> T:
    """Await `attempt(1)`, `attempt(2)`, ... until one succeeds. A failure is raised as is when it is not
    transient, when the retries are spent, or when the wait would end past the deadline (`remaining()`
    seconds left, None before the clock starts); each retry is one line on the logger."""
    number = 0
    while True:
        number += 1
        try:
            return await attempt(number)
        except Exception as exc:
            if not is_transient(exc) or number > policy.max_retries:
                raise
            wait = policy.delay(exc, number)
            left = remaining()
            if left is not None and wait >= left:
                log.info("not retrying %s: the wait of %.2fs would pass its deadline (%.2fs left) after: %s",
                         what, wait, left, _short(exc))
                raise
            log.info("retrying %s in %.2fs (attempt %d of %d failed: %s)", what, wait, number,
                     policy.max_retries + 1, _short(exc))
            await asyncio.sleep(wait)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."
