"""What the peer systems share: one way to send a request, counted against the `Env` budgets, and validation.

Every request a peer makes goes through `Calls`: program requests carry the program model, its pinned
temperature and the task's `max_tokens`; optimizer requests carry the optimizer model and its pinned
temperature, set explicitly because neither textgrad's engines nor trace's clients send the one we pin.
Each attempt counts against its budget before it is sent (a retry too: the proxy sees it), and a request
past the budget is refused with `BudgetSpent`, so a peer can never go over; the peers plan their steps to
fit and treat `BudgetSpent` only as a guard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

from backprose.train.guides import as_guide
from bench.suite import program
from bench.suite.systems.base import Env

log = logging.getLogger("backprose")

# textgrad's engine asks for 2000 tokens and OptoPrime for 4096; a small optimizer model that loops would hold
# the shared server for many minutes, so both peers' optimizer replies stop here.
OPTIMIZER_MAX_TOKENS = 1024
RETRIES = 2  # transient failures (connection, timeout, 429, 5xx) are tried again, each attempt counted
TIMEOUT = 900.0  # seconds; a long optimizer reply on the 1.5B model takes minutes
VALIDATION_CONCURRENCY = 4  # as the suite's own scoring
_TRANSIENT = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError)


class BudgetSpent(RuntimeError):
    """A request would go past the system's budget of program or optimizer calls; it was not sent."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"the {kind} budget of {limit} calls is spent; the request was not sent (plan fewer steps "
                         f"or raise Env.{kind}_calls)")
        self.kind = kind


class Budget:
    """Counts program and optimizer requests against their limits; safe to share between threads."""

    def __init__(self, program_calls: int, optimizer_calls: int) -> None:
        self.limits = {"program": program_calls, "optimizer": optimizer_calls}
        self.used = {"program": 0, "optimizer": 0}
        self._lock = threading.Lock()

    def take(self, kind: str) -> None:
        with self._lock:
            if self.used[kind] >= self.limits[kind]:
                raise BudgetSpent(kind, self.limits[kind])
            self.used[kind] += 1

    def left(self, kind: str) -> int:
        with self._lock:
            return self.limits[kind] - self.used[kind]


class Calls:
    """The one door of a peer's requests to `env.base_url`, with its budget."""

    def __init__(self, env: Env, task_name: str, client: openai.OpenAI | None = None) -> None:
        self.env = env
        self.task_name = task_name
        self.budget = Budget(env.program_calls, env.optimizer_calls)
        self.client = client or openai.OpenAI(base_url=env.base_url, api_key=env.api_key, max_retries=0,
                                              timeout=TIMEOUT)

    def program(self, instruction: str, question: str) -> str:
        """One run of the suite's program: exactly `program.messages(instruction, question)`."""
        body = {"model": self.env.program_model, "messages": program.messages(instruction, question),
                "temperature": self.env.program_temperature, "max_tokens": program.max_tokens(self.task_name)}
        return _content(self.send("program", body))

    def optimizer(self, messages: list[dict[str, Any]], **extra: Any) -> Any:
        """One optimizer request (the whole completion object); `extra` adds fields such as `response_format`."""
        body = {"model": self.env.optimizer_model, "messages": messages,
                "temperature": self.env.optimizer_temperature, "max_tokens": OPTIMIZER_MAX_TOKENS, **extra}
        return self.send("optimizer", body)

    def send(self, kind: str, body: dict[str, Any]) -> Any:
        for attempt in range(RETRIES + 1):
            self.budget.take(kind)
            try:
                return self.client.chat.completions.create(**body)
            except _TRANSIENT as exc:
                if attempt == RETRIES:
                    raise
                log.warning("peer %s request failed (%s: %s); trying again, attempt %d of %d, counted in the budget",
                            kind, type(exc).__name__, exc, attempt + 2, RETRIES + 1)
        raise AssertionError("unreachable")

    def accuracy(self, instruction: str, examples: Sequence[Any], guide: Any) -> float:
        """Mean guide score of the program with `instruction` on `examples` (the validation split)."""
        judge = as_guide(guide)

        def one(example: Any) -> float:
            return float(judge(self.program(instruction, str(example.input)), example).score)

        with ThreadPoolExecutor(VALIDATION_CONCURRENCY) as pool:
            scores = list(pool.map(one, examples))
        return sum(scores) / len(scores) if scores else 0.0


def _content(reply: Any) -> str:
    return reply.choices[0].message.content or ""
