"""The optimizer base: proposing new values is separate from applying them.

`propose(n)` asks the algorithm for `n` candidate updates and changes nothing; `apply(proposal)` validates
each suggested value against its parameter's type and assigns the good ones; `step()` does both. An
`Update` records old and new values, what was refused and why, the reasoning and the calls it cost, and
can be reverted, which is what validation-gated training and search strategies build on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprose.errors import InvalidUpdate
from backprose.nodes.code import CodeParameter
from backprose.nodes.parameter import Parameter


@dataclass
class Proposal:
    """Suggested values (parameter -> raw suggestion) and the reasoning behind them. Applies nothing."""

    values: dict[Parameter, Any]
    reasoning: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    """One parameter's fate in an update: `accepted` with the new value, or refused with the reason."""

    parameter: Parameter
    old: Any
    new: Any
    accepted: bool
    reason: str = ""

    @property
    def name(self) -> str:
        return self.parameter.name


@dataclass
class Update:
    """What a step did. `revert()` restores every accepted change."""

    changes: list[Change] = field(default_factory=list)
    reasoning: str = ""
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Change]:
        return [c for c in self.changes if c.accepted]

    @property
    def rejected(self) -> list[Change]:
        return [c for c in self.changes if not c.accepted]

    @property
    def changed(self) -> bool:
        return bool(self.accepted)

    def revert(self) -> None:
        for change in reversed(self.accepted):
            _assign(change.parameter, change.old)

    def reapply(self) -> None:
        for change in self.accepted:
            _assign(change.parameter, change.new)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reasoning": self.reasoning,
            "usage": self.usage,
            "changes": [{"name": c.name, "old": _jsonable(c.old), "new": _jsonable(c.new),
                         "accepted": c.accepted, "reason": c.reason} for c in self.changes],
        }

    def __repr__(self) -> str:
        parts = [f"{c.name}: {'ok' if c.accepted else 'refused (' + c.reason + ')'}" for c in self.changes]
        return f"Update({'; '.join(parts) or 'no change'})"


MAX_REFUSED = 3  # refused values remembered per parameter


def _assign(p: Parameter, value: Any) -> None:
    if isinstance(p, CodeParameter):
        p.value = value
    else:
        p._value = value


def _jsonable(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def same_value(a: Any, b: Any) -> bool:
    """Equality that also holds for numpy arrays (where `==` is elementwise)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def bare(text: str) -> str:
    """`text` without what does not change its meaning: case, runs of spaces, quotes, brackets, end stops."""
    return " ".join(text.split()).strip(" .,;:'\"{}[]()").lower()


def same_text(a: Any, b: Any) -> bool:
    """Equal values, or texts that differ only in case, spacing, quotes, brackets or end punctuation."""
    return same_value(a, b) or (isinstance(a, str) and isinstance(b, str) and bare(a) == bare(b))


def echoes_description(p: Parameter, value: Any) -> str | None:
    """Why `value` is no value at all but `p`'s description handed back (small models do this), or None."""
    if not isinstance(value, str) or not p.description:
        return None
    if bare(value) != bare(p.description):
        return None
    return (f"{p.name}: the suggestion repeats the parameter's description ({p.description!r}); write the value "
            "itself")


def check_retries(retries: int) -> int:
    """`retries` if it is a usable count of extra requests for a reply that does not parse or check."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r}: give the number of extra requests allowed for a reply that does "
                         "not parse or check, 0 or more (default 1)")
    return retries


class Optimizer:
    """Base class: parameter groups, `propose`/`apply`/`step`, `zero_feedback` and resumable state."""

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 retries: int = 1, **defaults: Any) -> None:
        items = list(parameters)
        if not items:
            raise ValueError("the optimizer got no parameters; pass module.parameters() or a list of bp.param")
        groups = items if isinstance(items[0], Mapping) else [{"params": items}]
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            params = list(group["params"])
            bad = [p for p in params if not isinstance(p, Parameter)]
            if bad:
                raise TypeError(f"optimizers take Parameters, got {type(bad[0]).__name__}; wrap values with "
                                "bp.param(...)")
            self.param_groups.append({**defaults, **group, "params": params})
        self._llm = llm
        # may change between steps, e.g. to 0 when a budget has one request left
        self.retries = check_retries(retries)
        self.log: list[dict[str, Any]] = []
        # parameter name -> values the trainer tried and refused, newest last (see record_refusal)
        self.refused: dict[str, list[dict[str, Any]]] = {}

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from backprose.llm import default

            self._llm = default()
        return self._llm

    @property
    def parameters(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    def trainable(self) -> list[Parameter]:
        """Parameters this step may change: trainable ones that received feedback."""
        return [p for p in self.parameters if p.trainable and p.feedback]

    # --- the algorithm writes these ----------------------------------------------------------------------
    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        """`n` candidate updates from the current feedback; changes nothing."""
        raise NotImplementedError

    async def apropose(self, n: int = 1, **options: Any) -> list[Proposal]:
        return await asyncio.to_thread(self.propose, n, **options)

    # --- shared by all -----------------------------------------------------------------------------------
    def apply(self, proposal: Proposal) -> Update:
        """Validate each suggestion against its parameter; assign the valid ones, report the rest."""
        update = Update(reasoning=proposal.reasoning, usage=dict(proposal.usage))
        for p, suggestion in proposal.values.items():
            old = p._value
            if not p.trainable:
                update.changes.append(Change(p, old, suggestion, False, "the parameter is frozen"))
                continue
            try:
                new = p.validate(suggestion)
            except InvalidUpdate as exc:
                update.changes.append(Change(p, old, suggestion, False, str(exc)))
                continue
            echo = echoes_description(p, new)
            if echo:
                update.changes.append(Change(p, old, new, False, echo))
                continue
            if same_value(new, old):
                continue
            _assign(p, new)
            update.changes.append(Change(p, old, new, True))
        self.log.append({"kind": "update", **update.as_dict()})
        return update

    def step(self, **options: Any) -> Update:
        proposals = self.propose(1, **options)
        return self.apply(proposals[0]) if proposals else Update(reasoning="no proposal")

    async def astep(self, **options: Any) -> Update:
        proposals = await self.apropose(1, **options)
        return self.apply(proposals[0]) if proposals else Update(reasoning="no proposal")

    def zero_feedback(self) -> None:
        for p in self.parameters:
            p.zero_feedback()

    # --- what the trainer refused ---------------------------------------------------------------------------
    def record_refusal(self, update: Update, reason: str) -> None:
        """Remember the values of an update the trainer tried and refused, with why. On the same minibatch
        at temperature 0 the model would otherwise propose the very same values again, step after step;
        optimizers that show `refusals(p)` and refuse a repeat (`repeats_refusal`) move on instead."""
        for change in update.accepted:
            past = self.refused.setdefault(change.name, [])
            past[:] = [r for r in past if not same_value(r["value"], _jsonable(change.new))]
            past.append({"value": _jsonable(change.new), "reason": reason})
            del past[:-MAX_REFUSED]

    def refusals(self, p: Parameter) -> list[dict[str, Any]]:
        """The values of `p` tried and refused so far (at most `MAX_REFUSED`, newest last)."""
        return list(self.refused.get(p.name, []))

    def repeats_refusal(self, p: Parameter, value: Any) -> str | None:
        """Why `value` should not be proposed for `p` again, or None."""
        for r in self.refused.get(p.name, []):
            if same_value(r["value"], _jsonable(value)):
                return (f"{p.name}: this value was already tried and refused ({r['reason']}); write a different "
                        "value")
        return None

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready optimizer state (memories, histories); subclasses extend it."""
        return {"log_length": len(self.log), "refused": self.refused}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.refused = {name: list(past) for name, past in (state.get("refused") or {}).items()}
