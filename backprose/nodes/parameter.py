"""Trainable values. A `Parameter` owns its value's whole lifecycle: `check` turns a raw suggestion (a model's
reply, a user's assignment) into a value it accepts or refuses with a reason, and `assign` is the one write.
Code elsewhere calls those two, so a bad update never corrupts a parameter: the old value stays.

A parameter also remembers where, while tracing, its value left the graph as plain text (`str(p)`, an
f-string, `.format`, `.value` read outside a bundle): feedback cannot flow back through such a copy, and an
optimizer step that finds no feedback names these places.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from backprose.context import _reads, is_tracing
from backprose.errors import InvalidUpdate, TalksAboutItself
from backprose.nodes.node import Node

VALUE_TYPES = ("text", "number", "bool", "json", "array", "code")
MAX_ESCAPES = 3  # places remembered per parameter where its value left the graph
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # backprose's own files
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)
logger = logging.getLogger(__name__)
# "The new value for `x` should be: '...'": small models wrap the value in a sentence about it
_QUOTED_VALUE = re.compile(r"the new value(?: (?:for|of) `?(?P<name>\w+)`?)? (?:should be|is|would be):? *"
                           r"(?P<q>['\"])(?P<value>[^'\"]+)(?P=q)\.?", re.IGNORECASE)


def infer_type(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, dict | list):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a dict/list parameter must be JSON-serializable ({exc}); "
                            "convert its contents to str, numbers, bools, lists and dicts") from None
        return "json"
    raise TypeError(f"a parameter cannot hold a {type(value).__name__}; use text, a number, a bool, "
                    "a JSON-like dict/list, a numpy array, or @bp.bundle(trainable=True) for code")


class Parameter(Node):
    """A value the optimizer may change. `description` and `constraint` tell the optimizer what it is for."""

    kind = "parameter"
    __slots__ = ("value_type", "trainable", "constraint", "bounds", "projection", "escapes")

    def __init__(
        self,
        value: Any,
        name: str | None = None,
        description: str = "",
        *,
        trainable: bool = True,
        constraint: str = "",
        bounds: tuple[float | None, float | None] | None = None,
        projection: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(None, name or "param", description)
        self.value_type = self._type_of(value)
        self.trainable = trainable
        self.constraint = constraint
        self.bounds = bounds
        self.projection = projection
        self.escapes: list[str] = []
        self._value = value.copy() if isinstance(value, np.ndarray) else value
        self._value = self.validate(value)

    def _type_of(self, value: Any) -> str:
        return infer_type(value)

    @property
    def value(self) -> Any:
        if _reads.get() is None:
            self._note_escape("a read of .value")
        return Node.value.fget(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        self.assign(self.validate(new))

    # --- the lifecycle of a value ---------------------------------------------------------------------------
    def check(self, raw: Any) -> Any:
        """The value a suggestion `raw` would become, or InvalidUpdate saying why it cannot. Changes nothing.

        Loosens the forms models write (a value wrapped once more in an object, code in a ``` fence, a number
        or an array as text, a text value quoted in "The new value should be: '...'"), validates the type,
        applies the projection, and refuses the description handed back instead of a value, or a text that talks
        about the parameter instead of being it (small models do both; see `speaks_of_itself`).
        """
        value = self.validate(self._loosen(raw))
        if isinstance(value, str) and self.description and bare(value) == bare(self.description):
            raise InvalidUpdate(f"{self.name}: the suggestion repeats the parameter's description "
                                f"({self.description!r}); write the value itself")
        if self.value_type == "text" and (talk := speaks_of_itself(value, self.name, str(self._value),
                                                                     self.description or "")):
            raise TalksAboutItself(f"{self.name}: the suggestion talks about the parameter ({talk!r}) instead of "
                                   f"being its text; write the {self.name} itself, exactly as the program will use it",
                                   talk)
        return value

    def validate(self, new: Any) -> Any:
        """The accepted form of `new` (type checked, then projected and checked again), or InvalidUpdate."""
        coerced = self._coerce(new)
        if self.projection is not None:
            try:
                coerced = self._coerce(self.projection(coerced))
            except InvalidUpdate:
                raise
            except Exception as exc:
                raise InvalidUpdate(f"{self.name}: the projection rejected the value: {exc}") from exc
        return coerced

    def assign(self, value: Any) -> None:
        """The one write of the value: `value` comes from `check`/`validate`, or is a value it held before."""
        self._value = value

    def _coerce(self, new: Any) -> Any:
        return _COERCE[self.value_type](self, new)

    def _loosen(self, raw: Any) -> Any:
        kind = self.value_type
        if kind in ("code", "text") and isinstance(raw, dict) and len(raw) == 1:
            (inner,) = raw.values()  # {"greeting": "..."}: one string inside is unambiguous
            raw = inner if isinstance(inner, str) else raw
        if kind == "code" and isinstance(raw, str):
            return strip_fence(raw)
        if kind == "text" and isinstance(raw, str) and (found := _QUOTED_VALUE.fullmatch(raw.strip())):
            if found.group("name") in (None, self.name):
                logger.info("%s: took the value quoted in the reply %r", self.name, raw[:200])
                return found.group("value")
        if kind == "text" and isinstance(raw, int | float) and not isinstance(raw, bool):
            return str(raw)
        if kind == "array" and isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError:
                raise InvalidUpdate(f"{self.name} is an array; give a JSON list of numbers") from None
        if kind == "number" and isinstance(raw, str):
            return raw.strip()
        return raw

    # --- where the value left the graph ---------------------------------------------------------------------
    def _note_escape(self, how: str) -> None:
        """Remember the caller's file:line when user code (not the library) turns this value into plain data
        while tracing; feedback cannot come back through that copy."""
        if not is_tracing():
            return
        frame = sys._getframe(2)
        filename = frame.f_code.co_filename
        if filename.startswith(PACKAGE_DIR) or filename.startswith("<frozen"):
            return
        place = f"{filename}:{frame.f_lineno} ({how})"
        if place not in self.escapes:
            self.escapes.append(place)
            del self.escapes[:-MAX_ESCAPES]

    def __str__(self) -> str:
        if _reads.get() is None:
            self._note_escape("str()")
        return str(Node.value.fget(self))  # type: ignore[attr-defined]

    def __format__(self, spec: str) -> str:
        if _reads.get() is None:
            self._note_escape("an f-string or .format")
        return format(Node.value.fget(self), spec)  # type: ignore[attr-defined]

    def zero_feedback(self) -> None:
        super().zero_feedback()
        self.escapes = []


def strip_fence(text: str) -> str:
    """Code without the ``` fence a model likes to wrap it in."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def bare(text: str) -> str:
    """`text` without what does not change its meaning: case, runs of spaces, quotes, brackets, end stops."""
    return " ".join(text.split()).strip(" .,;:'\"{}[]()").lower()


EDITED = r"(?:new|updated|improved|revised|rewritten|modified|better)"  # how a text about an edit names its value


def speaks_of_itself(value: str, name: str, old: str = "", description: str = "") -> str | None:
    """The words by which `value` describes the parameter instead of being it, if any (none the old value has).

    A weak optimizer model asked for "a new value for the parameter `instruction`" sometimes writes a sentence
    about that value ("The new value for the parameter `instruction` should ...", "The new instruction should
    specify ...", "The system prompt of the one model call ... should be more detailed", "The system prompt
    should clearly specify the task that the model should ...", "The updated instruction should provide
    ..."). The prompt's own terms give it away: the name in backticks, "the parameter", "the new (updated,
    revised, ...) <name or prompt>", or the parameter's description (of three words or more), which a real
    prompt for the program has no use for. So does a sentence that tells a prompt, the program, the model or
    the parameter what it should do in the third person ("The system prompt should", "the model must", "The
    instruction should"): a prompt speaks to the model in the second person or the imperative.
    """
    names = "|".join(dict.fromkeys(re.escape(n) for n in (name, name.replace("_", " "))))
    subjects = rf"system prompt|prompt|instructions?|program|model|{names}"
    pattern = (rf"`{re.escape(name)}`|\bthe parameter\b|\bthe {EDITED} (?:{subjects})\b"
               rf"|\bthe (?:{subjects}) (?:should|must|needs? to|has to|ought to)\b")
    words = re.sub(r"^(?:the|a|an)\s+", "", " ".join(description.split()), flags=re.IGNORECASE)
    if len(words.split()) >= 3:
        pattern += "|" + r"\s+".join(map(re.escape, words.split()))
    found = re.search(pattern, value, re.IGNORECASE)
    if found is None or bare(found.group(0)) in bare(old):
        return None
    return found.group(0)


def _text(p: Parameter, new: Any) -> str:
    if not isinstance(new, str):
        raise InvalidUpdate(f"{p.name} is text; got {type(new).__name__}. Pass a str.")
    return new


def _number(p: Parameter, new: Any) -> int | float:
    if isinstance(new, bool) or not isinstance(new, int | float | str | np.integer | np.floating):
        raise InvalidUpdate(f"{p.name} is a number; got {type(new).__name__}. Pass an int or float.")
    try:
        number = float(new)
    except ValueError:
        raise InvalidUpdate(f"{p.name} is a number; {new!r} does not parse as one.") from None
    if not math.isfinite(number):
        raise InvalidUpdate(f"{p.name} must be finite; got {number}.")
    old = p._value
    if isinstance(old, int | np.integer) and old is not None:
        if not number.is_integer():
            raise InvalidUpdate(f"{p.name} is an integer; got {number}. Pass a whole number.")
        result: int | float = int(number)
    else:
        result = number
    low, high = p.bounds or (None, None)
    if (low is not None and result < low) or (high is not None and result > high):
        raise InvalidUpdate(f"{p.name} must lie in [{low}, {high}]; got {result}.")
    return result


def _bool(p: Parameter, new: Any) -> bool:
    if isinstance(new, bool | np.bool_):
        return bool(new)
    if isinstance(new, str) and new.strip().lower() in ("true", "false"):
        return new.strip().lower() == "true"
    raise InvalidUpdate(f"{p.name} is a bool; got {new!r}. Pass True or False.")


def _json(p: Parameter, new: Any) -> Any:
    if isinstance(new, str):
        try:
            new = json.loads(new)
        except json.JSONDecodeError as exc:
            raise InvalidUpdate(f"{p.name} is JSON; the text does not parse: {exc}") from None
    expected = dict if isinstance(p._value, dict) else list
    if p._value is not None and not isinstance(new, expected):
        raise InvalidUpdate(f"{p.name} is a JSON {expected.__name__}; got {type(new).__name__}.")
    try:
        return json.loads(json.dumps(new))
    except (TypeError, ValueError) as exc:
        raise InvalidUpdate(f"{p.name} must be JSON-serializable: {exc}") from None


def _array(p: Parameter, new: Any) -> np.ndarray:
    old = p._value
    try:
        array = np.array(new, dtype=old.dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidUpdate(f"{p.name} is a {old.dtype} array of shape {old.shape}; {exc}") from None
    if array.shape != old.shape:
        raise InvalidUpdate(f"{p.name} must keep shape {old.shape}; got {array.shape}.")
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        raise InvalidUpdate(f"{p.name} must be finite everywhere.")
    low, high = p.bounds or (None, None)
    if (low is not None and np.any(array < low)) or (high is not None and np.any(array > high)):
        raise InvalidUpdate(f"{p.name} must lie in [{low}, {high}] everywhere.")
    return array


_COERCE: dict[str, Callable[[Parameter, Any], Any]] = {
    "text": _text, "number": _number, "bool": _bool, "json": _json, "array": _array,
}


def param(value: Any, name: str | None = None, description: str = "", **options: Any) -> Parameter:
    """Declare a trainable value: `bp.param("Answer briefly.", name="system", description="...")`."""
    return Parameter(value, name=name, description=description, **options)
