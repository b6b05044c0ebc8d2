"""`bp.node(x)` as Trace users write it: a node comes back unchanged, anything else is wrapped."""

import logging

import pytest

import backprose as bp


def test_a_node_is_returned_unchanged_whatever_its_kind():
    p = bp.param("prompt", name="system")
    msg = p + "!"
    const = bp.Node(3, name="three")
    for x in (p, msg, const):
        assert bp.node(x) is x
    assert bp.node(p, trainable=True) is p  # already a parameter


def test_a_plain_value_becomes_a_constant_or_with_trainable_a_parameter():
    c = bp.node(3, name="three", description="a count")
    assert type(c) is bp.Node and (c.value, c.name, c.description, c.parents) == (3, "three", "a count", ())
    p = bp.node("Answer briefly.", name="system", trainable=True, constraint="one sentence")
    assert isinstance(p, bp.Parameter) and p.trainable and p.constraint == "one sentence"
    assert p in bp.parameters_of(p + "?")
    arr = bp.node([1, 2], trainable=True, projection=lambda v: sorted(v))
    arr.value = [3, 1]
    assert arr.value == [1, 3]


def test_trainable_on_a_constant_node_declares_a_parameter_with_its_value():
    const = bp.Node("hi", name="greeting", description="what to say")
    p = bp.node(const, trainable=True)
    assert isinstance(p, bp.Parameter) and p is not const
    assert (p.value, p.name, p.description) == ("hi", "greeting", "what to say")


def test_parameter_options_without_trainable_are_refused():
    with pytest.raises(TypeError, match="trainable=True"):
        bp.node(1, bounds=(0, 2))


def test_a_new_name_for_an_existing_node_is_reported_not_silently_dropped(caplog):
    p = bp.param(1, name="kept")
    with caplog.at_level(logging.INFO, logger="backprose"):
        assert bp.node(p, name="other") is p
    assert p.name == "kept" and "'kept'" in caplog.text and "'other'" in caplog.text


def test_bp_param_and_bp_node_stay_as_they_were():
    a = bp.param(1)
    assert bp.param(2) is not a and bp.Node(a) is not a and bp.Node(a).value == 1
