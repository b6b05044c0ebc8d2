"""Exploring retries for `Reflect(explore=True)`: after a miss, ask hotter and from another angle.

Shown the same examples at the same temperature, a small model answers the same way: told only "that is
the current value", it repeats it (seen on a real task, where three of four steps ended with no usable
proposal). So each miss of a parameter (a reply that repeats its current value or a refused one, or does
not parse; a candidate the trainer refused) moves it to the next angle listed in `reflect_user.j2` ("what
the failing examples have in common", "the answer format", "a worked procedure", ...) and a hotter
temperature, for the retry and for the next step's first request. A change that was adopted (the value
moved) starts again from the plain prompt at the base temperature. A retry is only sent while the call
budget leaves room to try out what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from backprose.errors import ReplyFormatError
from backprose.llm.limits import remaining_calls
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import _jsonable, same_value
from backprose.optimizers.replies import _short, asking_json
from backprose.steps import Steps

if TYPE_CHECKING:
    from backprose.optimizers.reflect import Reflect

logger = logging.getLogger(__name__)

HEAT_START = 0.7  # the least temperature after a miss: low enough to stay on task, high enough to differ
HEAT_STEP = 0.2  # added per further miss
HEAT_CEILING = 1.2
RETRY_ROOM = 2  # calls a retry needs left in the budget: itself and at least one run of what it returns


class Exploring:
    """Per-parameter misses of one `Reflect`: they pick the angle and the temperature of its next request."""

    def __init__(self, owner: Reflect) -> None:
        self.owner = owner
        self.misses: dict[str, int] = {}
        self.seen: dict[str, Any] = {}

    def angle(self, p: Parameter) -> int:
        """The index of the angle in `reflect_user.j2` (0: the plain prompt); the template wraps it around."""
        return self.misses.get(p.name, 0)

    def temperature(self, p: Parameter, base: float) -> float:
        misses = self.misses.get(p.name, 0)
        if not misses:
            return base
        return round(min(HEAT_CEILING, max(base + HEAT_STEP, HEAT_START) + HEAT_STEP * (misses - 1)), 3)

    def start(self, params: Sequence[Parameter]) -> None:
        """Before a step's prompts: a parameter whose value moved since the last step starts afresh."""
        for p in params:
            now = _jsonable(p._value)
            if p.name in self.seen and not same_value(self.seen[p.name], now) and self.misses.get(p.name):
                logger.info("%s: its value changed, so the next rewrite starts again from the plain prompt", p.name)
                self.misses[p.name] = 0
            self.seen[p.name] = now

    def refused(self, update: Any) -> None:
        """The trainer refused these values: the next candidate explores (a value of another optimizer's
        parameter, such as the recipe's worked examples, counts for nothing here)."""
        mine = {p.name for p in self.owner.parameters}
        for change in update.accepted:
            if change.name in mine:
                self.misses[change.name] = self.misses.get(change.name, 0) + 1

    def asking(self, p: Parameter, messages: list[dict[str, str]], options: dict[str, Any]) -> Steps[Any]:
        """Ask for a new value of `p`; after an unusable reply, ask again (at most `retries` times) from the
        next angle, hotter, saying what was wrong. Returns (value or None, reasoning), as `_one` does."""
        owner = self.owner
        base = float(options.get("temperature") or 0.0)
        attempt = 0
        while True:
            opts = {**options, "temperature": self.temperature(p, base)}
            try:
                reply = yield from asking_json(owner.llm, messages, owner.schema(p), owner._checker(p),
                                               owner.templates, owner.log, 0, opts, last=False)
                return owner.read(p, reply)
            except ReplyFormatError as err:
                last = err
            self.misses[p.name] = self.misses.get(p.name, 0) + 1
            attempt += 1
            if attempt > owner.retries:
                break
            left = remaining_calls()
            if left is not None and left < RETRY_ROOM:
                logger.info("%s: no exploring retry: %d model call(s) left in the budget, too few to try a new "
                            "value out", p.name, left)
                break
            messages = owner.messages(p, problems=last.problems)
            logger.info("%s: exploring retry %d at temperature %g from angle %d, since %s", p.name, attempt,
                        self.temperature(p, base), self.angle(p), "; ".join(last.problems)[:200])
        logger.warning("%s: the reply stayed unusable after %d attempt(s): %s", p.name, attempt, _short(last.problems))
        return owner._last_resort(p, last)

    def state_dict(self) -> dict[str, Any]:
        return {"misses": dict(self.misses), "seen": dict(self.seen)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.misses = {k: int(v) for k, v in (state.get("misses") or {}).items()}
        self.seen = dict(state.get("seen") or {})
