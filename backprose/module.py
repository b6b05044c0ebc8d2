"""`bp.Module`: a container of parameters, discovered from attributes like `torch.nn.Module`.

Subclasses need not call `super().__init__()`. Parameters are found recursively through attributes, lists,
tuples, dicts and sub-modules, plus the code of trainable methods. State is saved as readable JSON (never
pickle) and the optimized module can be written back out as Python source.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from backprose.errors import InvalidUpdate
from backprose.nodes.parameter import Parameter
from backprose.trace.bundle import Bundle


class Module:
    """Base class for programs with parameters: `parameters()`, `state_dict()`, `save()`, `export()`."""

    def __setattr__(self, key: str, value: Any) -> None:
        if isinstance(value, Parameter) and value.name == "param":
            value.name = key
        object.__setattr__(self, key, value)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Dotted names and parameters, each parameter once, in attribute order."""
        seen: set[int] = set()
        for name, p in _walk(self, prefix, set()):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters() if p.trainable]

    def zero_feedback(self) -> None:
        for _, p in self.named_parameters():
            p.zero_feedback()

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {name: encode(p) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, dict[str, Any]], strict: bool = True) -> None:
        """Validate every value first, then assign all: a bad entry changes nothing."""
        params = dict(self.named_parameters())
        missing, unexpected = params.keys() - state.keys(), state.keys() - params.keys()
        if strict and (missing or unexpected):
            raise KeyError(f"state does not match the module: missing {sorted(missing)}, unexpected "
                           f"{sorted(unexpected)}; pass strict=False to load the overlap")
        decoded = {}
        for name in params.keys() & state.keys():
            try:
                decoded[name] = params[name].validate(decode(state[name], params[name]))
            except InvalidUpdate as exc:
                raise InvalidUpdate(f"state entry {name!r}: {exc}") from None
        for name, value in decoded.items():
            params[name].assign(value)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the state as JSON atomically: a crash mid-write leaves the previous file intact."""
        return atomic_write_json(Path(path), self.state_dict())

    def load(self, path: str | os.PathLike, strict: bool = True) -> Module:
        with open(path, encoding="utf-8") as fh:
            self.load_state_dict(json.load(fh), strict=strict)
        return self

    def export(self, path: str | os.PathLike | None = None) -> str:
        """The module's class as Python source with optimized values and code written in."""
        from backprose.trace.export_source import export_module

        source = export_module(self)
        if path is not None:
            Path(path).write_text(source, encoding="utf-8")
        return source


def _walk(obj: Any, prefix: str, active: set[int]) -> Iterator[tuple[str, Parameter]]:
    if id(obj) in active:
        return
    if isinstance(obj, Parameter):
        yield prefix, obj
        return
    if isinstance(obj, Module):
        active = active | {id(obj)}
        for key, value in vars(obj).items():
            if key.startswith("_bp_code_"):
                continue
            yield from _walk(value, f"{prefix}.{key}" if prefix else key, active)
        for key, attr in _trainable_methods(type(obj)):
            code = attr.code_of(obj)
            if code is not None:
                yield f"{prefix}.{key}.code" if prefix else f"{key}.code", code
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _walk(value, f"{prefix}.{i}", active)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _walk(value, f"{prefix}.{key}", active)


def _trainable_methods(cls: type) -> list[tuple[str, Bundle]]:
    found: dict[str, Bundle] = {}
    for klass in reversed(cls.__mro__):
        for key, attr in vars(klass).items():
            if isinstance(attr, Bundle) and attr.trainable:
                found[key] = attr
    return list(found.items())


def encode(p: Parameter) -> dict[str, Any]:
    """A JSON-ready record of a parameter's value that keeps its exact type (dtype and shape for arrays)."""
    value = p._value
    if p.value_type == "array":
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{p.name}: cannot save a {value.dtype} array as JSON; use a real dtype")
        return {"type": "array", "dtype": str(value.dtype), "shape": list(value.shape), "value": value.tolist()}
    return {"type": p.value_type, "value": value}


def decode(record: dict[str, Any], p: Parameter) -> Any:
    if not isinstance(record, dict) or "value" not in record:
        raise InvalidUpdate(f"expected {{'type': ..., 'value': ...}}, got {record!r}")
    if record.get("type") != p.value_type:
        raise InvalidUpdate(f"type {record.get('type')!r} does not match the parameter's {p.value_type!r}")
    if p.value_type == "array":
        try:
            return np.array(record["value"], dtype=record["dtype"]).reshape(record["shape"])
        except (TypeError, ValueError) as exc:
            raise InvalidUpdate(f"the stored array does not fit its dtype and shape: {exc}") from None
    return record["value"]


def atomic_write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
