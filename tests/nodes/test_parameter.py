"""Parameters validate every assignment: a bad value is refused with a reason and the old value stays."""

import numpy as np
import pytest

import backprose as bp


@pytest.mark.parametrize("initial,new,expected", [
    ("a", "b", "b"),
    (1, 2.0, 2),
    (1.5, "2.5", 2.5),
    (True, "false", False),
    ({"k": 1}, '{"k": 2}', {"k": 2}),
    ([1], [1, 2], [1, 2]),
])
def test_accepted_updates_are_coerced(initial, new, expected):
    p = bp.param(initial)
    p.value = new
    assert p.value == expected and type(p.value) is type(expected)


@pytest.mark.parametrize("initial,new,reason", [
    ("a", 3, "is text"),
    (1, 2.5, "integer"),
    (1.0, float("nan"), "finite"),
    (True, "maybe", "bool"),
    ({"k": 1}, [1], "dict"),
    ({"k": 1}, "{not json", "does not parse"),
])
def test_rejected_updates_keep_the_old_value(initial, new, reason):
    p = bp.param(initial, name="p")
    with pytest.raises(bp.InvalidUpdate, match=reason):
        p.value = new
    assert p.value == initial


def test_bounds_and_projection():
    p = bp.param(0.5, bounds=(0.0, 1.0))
    with pytest.raises(bp.InvalidUpdate, match=r"\[0.0, 1.0\]"):
        p.value = 2.0
    clipped = bp.param(0.5, projection=lambda v: min(max(v, 0.0), 1.0))
    clipped.value = 7.0
    assert clipped.value == 1.0


def test_array_keeps_shape_and_dtype():
    p = bp.param(np.zeros((2, 2), dtype=np.float32))
    p.value = [[1, 2], [3, 4]]
    assert p.value.dtype == np.float32 and p.value.shape == (2, 2)
    with pytest.raises(bp.InvalidUpdate, match="shape"):
        p.value = [1, 2, 3]


def test_unsupported_value_type_says_what_to_use():
    with pytest.raises(TypeError, match="numpy array"):
        bp.param(object())


def test_module_names_unnamed_parameters_after_attributes():
    class M(bp.Module):
        def __init__(self):
            self.prompt = bp.param("hi")

    assert M().prompt.name == "prompt"
