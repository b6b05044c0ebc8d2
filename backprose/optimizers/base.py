"""The optimizer base: proposing new values is separate from applying them.

`propose(n)` asks the algorithm for `n` candidate updates and changes nothing; `apply(proposal)` validates
each suggested value against its parameter's type and assigns the good ones; `step()` does both. An
`Update` records old and new values, what was refused and why, the reasoning and the calls it cost, and
can be reverted, which is what validation-gated training and search strategies build on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprose.errors import InvalidUpdate, NoFeedbackWarning, UnknownOption
from backprose.nodes.parameter import PACKAGE_DIR, Parameter, bare

logger = logging.getLogger(__name__)


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
    """What a step did. `revert()` restores every accepted change; `note` says why nothing changed."""

    changes: list[Change] = field(default_factory=list)
    reasoning: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    note: str = ""

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
            change.parameter.assign(change.old)

    def reapply(self) -> None:
        for change in self.accepted:
            change.parameter.assign(change.new)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reasoning": self.reasoning,
            "usage": self.usage,
            "changes": [{"name": c.name, "old": _jsonable(c.old), "new": _jsonable(c.new),
                         "accepted": c.accepted, "reason": c.reason} for c in self.changes],
        }

    def __repr__(self) -> str:
        parts = [f"{c.name}: {'ok' if c.accepted else 'refused (' + c.reason + ')'}" for c in self.changes]
        if not self.accepted:
            why = self.note or self.reasoning
            parts.append(f"no change: {_cut(why, 300)}" if why else "no change")
        return f"Update({'; '.join(parts)})"


MAX_REFUSED = 3  # refused values remembered per parameter


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside backprose."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def same_value(a: Any, b: Any) -> bool:
    """Equality that also holds for numpy arrays (where `==` is elementwise)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def same_text(a: Any, b: Any) -> bool:
    """Equal values, or texts that differ only in case, spacing, quotes, brackets or end punctuation."""
    return same_value(a, b) or (isinstance(a, str) and isinstance(b, str) and bare(a) == bare(b))


def missing_feedback(params: Iterable[Parameter]) -> str:
    """Why `params` (trainable, without feedback) cannot change: each name, and where its value left the graph
    when that is known."""
    named = [f"{p.name!r}, whose value left the graph at {', '.join(p.escapes)}" if p.escapes else repr(p.name)
             for p in params]
    return (f"no feedback reached {'; '.join(named)}. Feedback flows back only through traced ops: pass the "
            "parameter itself into a bundle or an op, not str(p), an f-string, .format or .value")


def check_retries(retries: int) -> int:
    """`retries` if it is a usable count of extra requests for a reply that does not parse or check."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r}: give the number of extra requests allowed for a reply that does "
                         "not parse or check, 0 or more (default 1)")
    return retries


class Optimizer:
    """Base class: parameter groups, `propose`/`apply`/`step`, `zero_feedback` and resumable state."""

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 retries: int = 1, **options: Any) -> None:
        self.refuse_unknown(options)
        items = list(parameters)
        if not items:
            raise ValueError("the optimizer got no parameters; pass module.parameters() or a list of bp.param")
        groups = items if isinstance(items[0], Mapping) else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            self.refuse_unknown({k: v for k, v in group.items() if k != "params"})
            params = list(group["params"])
            bad = [p for p in params if not isinstance(p, Parameter)]
            if bad:
                raise TypeError(f"optimizers take Parameters, got {type(bad[0]).__name__}; wrap values with "
                                "bp.param(...)")
            self.param_groups.append({"params": params})
        self._llm = llm
        # may change between steps, e.g. to 0 when a budget has one request left
        self.retries = check_retries(retries)
        self.log: list[dict[str, Any]] = []
        # parameter name -> values the trainer tried and refused, newest last (see record_refusal)
        self.refused: dict[str, list[dict[str, Any]]] = {}
        self.max_refused = MAX_REFUSED  # refused values remembered per parameter (the prompts show the last 3)

    def refuse_unknown(self, options: Mapping[str, Any]) -> None:
        """UnknownOption for the first option no constructor of this class takes, suggesting the close match."""
        if not options:
            return
        known = {name for klass in type(self).__mro__ if "__init__" in vars(klass)
                 for name, arg in inspect.signature(vars(klass)["__init__"]).parameters.items()
                 if arg.kind in (arg.KEYWORD_ONLY, arg.POSITIONAL_OR_KEYWORD) and name not in ("self", "parameters")}
        raise UnknownOption(type(self).__name__, next(iter(options)), sorted(known))

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

    def ready(self) -> list[Parameter]:
        """`trainable()`, saying out loud (a NoFeedbackWarning and a log line) which parameters got no feedback:
        all of them when nothing can change, else those known to have left the graph."""
        params = self.trainable()
        silent = [p for p in self.parameters if p.trainable and not p.feedback]
        if not params and silent:
            self.warn_no_feedback(silent)
        elif any(p.escapes for p in silent):
            self.warn_no_feedback([p for p in silent if p.escapes])
        return params

    def warn_no_feedback(self, params: list[Parameter]) -> str:
        why = missing_feedback(params)
        logger.warning("%s step: %s", type(self).__name__, why)
        warnings.warn(f"{type(self).__name__} step: {why}", NoFeedbackWarning, stacklevel=_user_stacklevel())
        return why

    def no_proposal(self) -> str:
        """Why a step got no proposal (for `repr(update)`)."""
        silent = [p for p in self.parameters if p.trainable and not p.feedback]
        if not any(p.trainable for p in self.parameters):
            return "every parameter is frozen"
        return missing_feedback(silent) if silent else "the optimizer proposed nothing"

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
        same = []
        for p, suggestion in proposal.values.items():
            old = p._value
            if not p.trainable:
                update.changes.append(Change(p, old, suggestion, False, "the parameter is frozen"))
                continue
            try:
                new = p.check(suggestion)
            except InvalidUpdate as exc:
                update.changes.append(Change(p, old, suggestion, False, str(exc)))
                continue
            except Exception as exc:  # a projection's own error: a refusal too, never a corrupted value
                update.changes.append(Change(p, old, suggestion, False, f"{p.name}: {type(exc).__name__}: {exc}"))
                continue
            if same_value(new, old):
                same.append(p.name)
                continue
            p.assign(new)
            update.changes.append(Change(p, old, new, True))
        for change in update.rejected:
            logger.info("%s refused a value for %s: %s", type(self).__name__, change.name, _cut(change.reason, 300))
        if update.rejected and not update.accepted:
            update.note = "every suggestion was refused"
        elif same and not update.changes:
            update.note = f"the suggestion for {', '.join(same)} equals the current value"
        elif not proposal.values:
            update.note = proposal.reasoning or "the proposal suggested no values"
        self.log.append({"kind": "update", **update.as_dict()})
        return update

    def step(self, **options: Any) -> Update:
        proposals = self.propose(1, **options)
        return self.apply(proposals[0]) if proposals else self._skipped()

    async def astep(self, **options: Any) -> Update:
        proposals = await self.apropose(1, **options)
        return self.apply(proposals[0]) if proposals else self._skipped()

    def _skipped(self) -> Update:
        why = self.no_proposal()
        logger.info("%s step skipped: %s", type(self).__name__, _cut(why, 300))
        return Update(reasoning="no proposal", note=why)

    def zero_feedback(self) -> None:
        for p in self.parameters:
            p.zero_feedback()

    # --- what the trainer refused ---------------------------------------------------------------------------
    def record_refusal(self, update: Update, reason: str) -> None:
        """Remember the values of an update the trainer tried and refused, with why. On the same minibatch
        at temperature 0 the model would otherwise propose the very same values again, step after step;
        optimizers that show `refusals(p)` and refuse a repeat (`repeats_refusal`) move on instead."""
        for change in update.accepted:
            logger.info("%s: the trainer refused the value of %s (%s)", type(self).__name__, change.name,
                        _cut(reason, 200))
            past = self.refused.setdefault(change.name, [])
            past[:] = [r for r in past if not same_value(r["value"], _jsonable(change.new))]
            past.append({"value": _jsonable(change.new), "reason": reason})
            del past[:-self.max_refused]

    def refusals(self, p: Parameter) -> list[dict[str, Any]]:
        """The values of `p` tried and refused last (at most `MAX_REFUSED`, newest last)."""
        return list(self.refused.get(p.name, [])[-MAX_REFUSED:])

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
