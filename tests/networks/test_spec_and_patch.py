import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprose.errors import InvalidEdit, InvalidSpec
from backprose.networks import AGGREGATIONS, apply_patch, check_spec, join, split, validate_spec


def test_valid_spec_has_no_problems(spec):
    assert check_spec(spec, AGGREGATIONS) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s.update(layers=[]), "non-empty"),
    (lambda s: s["layers"][0].update(aggregation="average"), "aggregation 'average'"),
    (lambda s: s["layers"][1].update(name="solve"), "duplicate layer name"),
    (lambda s: s["layers"][0]["agents"].append({"id": "a"}), "duplicate agent id"),
    (lambda s: s["layers"][0].update(agents=[]), "'agents' must be a non-empty list"),
    (lambda s: s["layers"][0].update(subtask=" "), "'subtask' must be non-empty"),
    (lambda s: s["layers"][0].update(name="9 lives"), "identifier"),
    (lambda s: s["layers"][0].update(colour="red"), "unknown fields"),
])
def test_each_defect_is_named(spec, mutate, expected):
    mutate(spec)
    problems = check_spec(spec, AGGREGATIONS)
    assert any(expected in p for p in problems), problems
    with pytest.raises(InvalidSpec, match="Fix"):
        validate_spec(spec, AGGREGATIONS)


def test_split_and_join_are_inverse(spec):
    doc = validate_spec(spec, AGGREGATIONS)
    structure, texts = split(doc)
    assert structure["layers"][0]["agents"] == ["a", "b"]
    assert texts["solve.b.instructions"] == "Compute carefully."
    assert join(structure, texts) == doc


def test_patch_ops(spec):
    out = apply_patch(spec, [
        {"op": "replace", "path": "/layers/0/aggregation", "value": "critic"},
        {"op": "add", "path": "/layers/0/agents/-", "value": {"id": "c", "role": "r", "prompt": "p"}},
        {"op": "move", "from": "/layers/1", "path": "/layers/0"},
        {"op": "test", "path": "/layers/0/name", "value": "answer"},
        {"op": "copy", "from": "/layers/1/subtask", "path": "/layers/0/subtask"},
        {"op": "remove", "path": "/layers/1/agents/0"},
    ])
    assert [x["name"] for x in out["layers"]] == ["answer", "solve"]
    assert out["layers"][1]["aggregation"] == "critic"
    assert [a["id"] for a in out["layers"][1]["agents"]] == ["b", "c"]
    assert out["layers"][0]["subtask"] == "work out the arithmetic"
    assert spec["layers"][0]["aggregation"] == "vote"  # the input is never touched


@pytest.mark.parametrize("ops", [
    [{"op": "replace", "path": "/layers/7/name", "value": "x"}],
    [{"op": "remove", "path": "/nothing"}],
    [{"op": "add", "path": "layers", "value": 1}],
    [{"op": "explode", "path": "/layers"}],
    [{"op": "replace", "path": "/task"}],
    [{"op": "test", "path": "/task", "value": "something else"}],
    [{"op": "move", "from": "/layers", "path": "/layers/0"}],
    {"op": "remove", "path": "/task"},
    ["not an op"],
])
def test_malformed_edits_are_refused(spec, ops):
    before = copy.deepcopy(spec)
    with pytest.raises(InvalidEdit, match="unchanged"):
        apply_patch(spec, ops)
    assert spec == before


SPEC = {"task": "t", "layers": [
    {"name": "solve", "subtask": "s", "aggregation": "vote", "agents": [{"id": "a"}, {"id": "b", "role": "r"}]},
    {"name": "answer", "subtask": "s", "aggregation": "chain", "agents": [{"id": "w", "prompt": "p"}]}]}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                      max_size=3), max_leaves=8)
paths = st.lists(st.sampled_from(["layers", "0", "1", "-", "agents", "name", "task", "x", "01"]),
                 max_size=4).map(lambda parts: "".join("/" + p for p in parts))
ops = st.fixed_dictionaries({"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bad"]),
                             "path": paths}, optional={"value": json_values, "from": paths})


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=4))
def test_a_patch_either_applies_or_refuses_without_touching_the_input(patch):
    doc = copy.deepcopy(SPEC)
    try:
        out = apply_patch(doc, patch)
    except InvalidEdit:
        out = None
    assert doc == SPEC
    if out is not None and not check_spec(out, AGGREGATIONS):
        assert validate_spec(out, AGGREGATIONS)["layers"]
