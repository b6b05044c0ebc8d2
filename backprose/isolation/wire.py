"""What crosses from a worker to the caller: JSON, never pickles, so a reply can only ever be data.

Plain JSON carries None, bools, ints, floats (NaN and infinities too), str, lists and dicts with str keys.
Everything else this module knows is a tagged object `{"__bp__": tag, "v": ...}`: tuple, set, frozenset,
bytes, complex, a dict with other keys, and numpy arrays and scalars (dtype, shape and raw bytes; object
dtypes excluded). Any other type is refused by name. This file imports only the standard library: the
worker loads it by path.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from typing import Any

TAG = "__bp__"
# Fields of a reply, with the JSON types each may hold; anything else in a reply makes it malformed.
REPLY_FIELDS: dict[str, tuple[type, ...]] = {
    "ok": (bool,),
    "value": (object,),
    "error_type": (str, type(None)),
    "error_message": (str,),
    "traceback": (str,),
    "lineno": (int, type(None)),
    "source_line": (str, type(None)),
    "memory_exceeded": (bool,),
}
_NUMPY_KINDS = "biufcSUmM"  # bool, ints, floats, complex, bytes, str, datetimes; never objects or records
# Bound at load time, before any candidate code runs, so code that patches `json.dumps` in its own process
# does not change how its reply is written.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class UnsupportedType(TypeError):
    """A value of a type the wire does not carry; `where` is its path inside the return value."""

    def __init__(self, type_name: str, where: str) -> None:
        super().__init__(f"{type_name} at {where}")
        self.type_name = type_name
        self.where = where


class MalformedReply(ValueError):
    """Bytes from a worker that are not a reply this module wrote."""


def encode_value(value: Any) -> Any:
    """The JSON-ready form of `value`; raises UnsupportedType naming the first type it cannot carry."""
    return _encode(value, "value", set())


def _encode(v: Any, where: str, path: set[int]) -> Any:
    t = type(v)
    if v is None or t is bool or t is int or t is float or t is str:
        return v
    if isinstance(v, bool):
        return bool(v)
    numpy = sys.modules.get("numpy")
    if numpy is not None and (t is numpy.ndarray or isinstance(v, numpy.generic)):
        return _encode_numpy(numpy, v, where)
    for base in (int, float, str):  # subclasses such as IntEnum cross as their plain value
        if isinstance(v, base):
            return base(v)
    if t is bytes or t is bytearray:
        return {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")}
    if t is complex:
        return {TAG: "complex", "v": [v.real, v.imag]}
    if t not in (list, tuple, set, frozenset, dict):
        raise UnsupportedType(f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__name__,
                              where)
    if id(v) in path:
        raise UnsupportedType(f"{t.__name__} that contains itself", where)
    path.add(id(v))
    try:
        if t is list:
            return [_encode(x, f"{where}[{i}]", path) for i, x in enumerate(v)]
        if t is tuple:
            return {TAG: "tuple", "v": [_encode(x, f"{where}[{i}]", path) for i, x in enumerate(v)]}
        if t is set or t is frozenset:
            return {TAG: t.__name__, "v": [_encode(x, f"{where} (an element)", path) for x in v]}
        if all(type(k) is str for k in v) and TAG not in v:
            return {k: _encode(x, f"{where}[{k!r}]", path) for k, x in v.items()}
        return {TAG: "dict", "v": [[_encode(k, f"{where} (a key)", path), _encode(x, f"{where}[{k!r}]", path)]
                                   for k, x in v.items()]}
    finally:
        path.discard(id(v))


def _encode_numpy(numpy: Any, v: Any, where: str) -> dict:
    dtype = v.dtype
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None:
        raise UnsupportedType(f"numpy array of dtype {dtype} (object or record dtype)", where)
    data = base64.b64encode(numpy.ascontiguousarray(v).tobytes()).decode("ascii")
    if isinstance(v, numpy.generic):
        return {TAG: "npscalar", "v": {"dtype": dtype.str, "data": data}}
    return {TAG: "ndarray", "v": {"dtype": dtype.str, "shape": list(v.shape), "data": data}}


def encode_reply(reply: dict) -> bytes:
    """A reply dict (its "value" already encoded) as compact ASCII JSON."""
    return _ENCODER.encode(reply).encode("ascii")


def encode_call_reply(reply: dict, cap: int) -> bytes:
    """A call's reply as JSON; a value the wire cannot carry, or a reply above `cap` bytes, becomes an error
    reply that says so."""
    try:
        if reply["ok"]:
            reply["value"] = encode_value(reply["value"])
        payload = encode_reply(reply)
    except UnsupportedType as exc:
        payload = encode_reply({
            "ok": False, "error_type": "UnsupportedReturnType",
            "error_message": f"the return value holds a {exc.type_name} ({exc.where}), which cannot cross the "
            "process boundary; return plain data (None, bool, int, float, str, bytes, list, tuple, dict, set, "
            "numpy arrays)",
        })
    except MemoryError:
        payload = encode_reply({"ok": False, "error_type": "MemoryError", "memory_exceeded": True,
                                "error_message": "out of memory while encoding the return value"})
    except Exception as exc:  # noqa: BLE001 - e.g. an int too long to write, a set that changes while read
        payload = encode_reply({"ok": False, "error_type": "UnsupportedReturnType",
                                "error_message": f"the return value cannot be encoded: {type(exc).__name__}: "
                                f"{str(exc)[:2000]}; return plain data"})
    if len(payload) > cap:
        payload = encode_reply({
            "ok": False, "error_type": "ReplyTooLarge",
            "error_message": f"the reply is {len(payload)} bytes, above the cap of {cap // (1024 * 1024)} MiB; "
            "return less data (a summary, a file path), or raise Limits.max_reply_mb",
        })
    return payload


def decode_reply(raw: bytes) -> dict:
    """Parse a reply from a worker; raises MalformedReply for anything but the shape encode_reply writes."""
    try:
        reply = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedReply(f"not a JSON reply ({type(exc).__name__})") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise MalformedReply("the reply is not an object with a boolean 'ok'")
    for key, value in reply.items():
        if key not in REPLY_FIELDS or not isinstance(value, REPLY_FIELDS[key]):
            raise MalformedReply(f"unexpected field {key!r} in the reply")
        if type(value) is bool and int in REPLY_FIELDS[key] and bool not in REPLY_FIELDS[key]:
            raise MalformedReply(f"field {key!r} is a boolean")
    try:
        reply["value"] = decode_value(reply.get("value"))
    except RecursionError:
        raise MalformedReply("the value is nested too deeply") from None
    return reply


def decode_value(obj: Any) -> Any:
    """Rebuild a value from its JSON form; raises MalformedReply for any form encode_value does not write."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode_value(x) for x in obj]
    if not isinstance(obj, dict):
        raise MalformedReply(f"unexpected JSON value of type {type(obj).__name__}")
    if TAG not in obj:
        return {k: decode_value(x) for k, x in obj.items()}
    if set(obj) != {TAG, "v"}:
        raise MalformedReply("a tagged value with extra fields")
    tag, v = obj[TAG], obj["v"]
    try:
        if tag == "tuple" and isinstance(v, list):
            return tuple(decode_value(x) for x in v)
        if tag in ("set", "frozenset") and isinstance(v, list):
            return (set if tag == "set" else frozenset)(decode_value(x) for x in v)
        if tag == "dict" and isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 for p in v):
            return {decode_value(k): decode_value(x) for k, x in v}
        if tag == "bytes" and isinstance(v, str):
            return base64.b64decode(v.encode("ascii"), validate=True)
        if tag == "complex" and isinstance(v, list) and len(v) == 2 and all(type(x) in (int, float) for x in v):
            return complex(v[0], v[1])
        if tag in ("ndarray", "npscalar") and isinstance(v, dict):
            return _decode_numpy(tag, v)
    except MalformedReply:
        raise
    except (TypeError, ValueError) as exc:  # unhashable set members or keys, bad base64
        raise MalformedReply(f"a malformed {tag!r} value ({type(exc).__name__}: {exc})") from None
    raise MalformedReply(f"unknown tag {tag!r}")


def _decode_numpy(tag: str, v: dict) -> Any:
    try:
        import numpy
    except ImportError:
        raise MalformedReply("the value holds a numpy array but numpy is not installed in the caller") from None
    expected = {"dtype", "data"} | ({"shape"} if tag == "ndarray" else set())
    if set(v) != expected or not isinstance(v["dtype"], str) or not isinstance(v["data"], str):
        raise MalformedReply("a malformed numpy value")
    dtype = numpy.dtype(v["dtype"])
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.hasobject:
        raise MalformedReply(f"numpy dtype {dtype} is not carried")
    data = base64.b64decode(v["data"].encode("ascii"), validate=True)
    if tag == "npscalar":
        if len(data) != dtype.itemsize:
            raise MalformedReply("a numpy scalar of the wrong size")
        return numpy.frombuffer(data, dtype=dtype)[0]
    shape = v["shape"]
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise MalformedReply("a numpy array with a malformed shape")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise MalformedReply("a numpy array whose data does not match its shape")
    return numpy.frombuffer(data, dtype=dtype).reshape(shape).copy()
