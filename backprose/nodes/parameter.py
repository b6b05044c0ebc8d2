"""Trainable values. Every assignment is validated against the parameter's type, so a bad update from an
optimizer is refused with a reason and the old value stays."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from backprose.errors import InvalidUpdate
from backprose.nodes.node import Node

VALUE_TYPES = ("text", "number", "bool", "json", "array", "code")


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
    __slots__ = ("value_type", "trainable", "constraint", "bounds", "projection")

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
        self._value = value.copy() if isinstance(value, np.ndarray) else value
        self._value = self.validate(value)

    def _type_of(self, value: Any) -> str:
        return infer_type(value)

    @property
    def value(self) -> Any:
        return Node.value.fget(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        self._value = self.validate(new)

    def validate(self, new: Any) -> Any:
        """The accepted form of `new`, or InvalidUpdate saying why it cannot be this parameter's value."""
        coerced = _COERCE[self.value_type](self, new)
        if self.projection is not None:
            try:
                coerced = _COERCE[self.value_type](self, self.projection(coerced))
            except InvalidUpdate:
                raise
            except Exception as exc:
                raise InvalidUpdate(f"{self.name}: the projection rejected the value: {exc}") from exc
        return coerced


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
