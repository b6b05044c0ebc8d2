"""A small JSON-schema checker for the subset structured output needs, with messages a model can act on.

Supported: type (one or a list), properties, required, additionalProperties (false or a schema), items,
minItems/maxItems, enum, const, minLength/maxLength, minimum/maximum, anyOf. Unknown keywords are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def validate(value: Any, schema: Mapping[str, Any] | None, path: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, as 'path: problem' strings; empty when it conforms."""
    if not schema:
        return []
    problems: list[str] = []
    if "anyOf" in schema:
        options = [validate(value, sub, path) for sub in schema["anyOf"]]
        if all(options):
            problems.append(f"{path}: matches none of the allowed shapes ({options[0][0]})")
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_TYPES.get(n, lambda v: True)(value) for n in names):
            problems.append(f"{path}: expected {' or '.join(names)}, got {json_type(value)}")
            return problems
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        problems.append(f"{path}: {json.dumps(value)} is not one of {allowed}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: must be {json.dumps(schema['const'])}")
    if isinstance(value, dict):
        problems += _check_object(value, schema, path)
    elif isinstance(value, list):
        problems += _check_array(value, schema, path)
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
    elif _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    return problems


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems = [f"{path}: missing required key {json.dumps(k)}" for k in schema.get("required", ())
                if k not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in properties:
            problems += validate(item, properties[key], where)
        elif extra is False:
            problems.append(f"{path}: unexpected key {json.dumps(key)}")
        elif isinstance(extra, Mapping):
            problems += validate(item, extra, where)
    return problems


def _check_array(value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    if len(value) < schema.get("minItems", 0):
        problems.append(f"{path}: has {len(value)} items, needs at least {schema['minItems']}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{path}: has {len(value)} items, allows at most {schema['maxItems']}")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            problems += validate(item, items, f"{path}[{i}]")
    return problems
