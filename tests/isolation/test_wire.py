"""The reply codec: what encode_value writes decodes to an equal value; anything else is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprose.isolation import wire

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
                         max_leaves=8)
values = st.recursive(
    scalars | st.complex_numbers(allow_nan=False),
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.sets(hashables, max_size=3)
                   | st.dictionaries(st.text(), inner, max_size=3) | st.dictionaries(hashables, inner, max_size=3)),
    max_leaves=20,
)


@given(values)
def test_every_value_the_encoder_takes_comes_back_equal(value) -> None:
    raw = wire.encode_reply({"ok": True, "value": wire.encode_value(value)})
    back = wire.decode_reply(raw)["value"]
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("raw", [
    b"\x80\x04\x95",  # a pickle
    b'{"ok": true, "value": {"__bp__": "exec", "v": "print(1)"}}',
    b'{"ok": true, "value": {"__bp__": "tuple", "v": [1], "x": 2}}',
    b'{"ok": true, "value": {"__bp__": "ndarray", "v": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}}',
    b'{"ok": true, "value": {"__bp__": "ndarray", "v": {"dtype": "<i8", "shape": [2], "data": "AAAAAAAAAAA="}}}',
    b'{"ok": true, "value": {"__bp__": "set", "v": [[1]]}}',
    b'{"ok": true, "value": {"__bp__": "bytes", "v": "not base64!"}}',
    b'{"ok": true, "lineno": true}',
    b'{"ok": true, "pickled": "x"}',
    b'{"ok": "yes"}',
    b"[1, 2]",
    "{\"ok\": true, \"value\": \"\u00e9\"}".encode(),
    b'{"ok": true, "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
])
def test_decoding_refuses_anything_the_encoder_does_not_write(raw: bytes) -> None:
    with pytest.raises(wire.MalformedReply):
        wire.decode_reply(raw)


def test_unsupported_types_are_named_with_their_place() -> None:
    with pytest.raises(wire.UnsupportedType) as info:
        wire.encode_value({"a": [1, object()]})
    assert info.value.type_name == "object" and info.value.where == "value['a'][1]"
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(wire.UnsupportedType, match="contains itself"):
        wire.encode_value(cyclic)


def test_numpy_values_keep_dtype_shape_and_are_writable() -> None:
    arr = np.arange(12, dtype=">i4").reshape(3, 4).T
    back = wire.decode_reply(wire.encode_reply({"ok": True, "value": wire.encode_value(arr)}))["value"]
    assert back.dtype == arr.dtype and back.shape == (4, 3) and (back == arr).all()
    back[0, 0] = 7
    assert json.loads(wire.encode_reply({"ok": True, "value": wire.encode_value(np.int8(3))}))["value"]["__bp__"] \
        == "npscalar"
