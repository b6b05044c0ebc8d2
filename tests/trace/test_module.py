"""Module: recursive parameters, JSON state that round-trips exactly, and export back to source."""

import importlib.util
import json

import numpy as np
import pytest

import backprose as bp


class Inner(bp.Module):
    def __init__(self):
        self.temperature = bp.param(0.5)


class Pipeline(bp.Module):
    def __init__(self):
        self.system = bp.param("Answer.", description="system prompt")
        self.gains = bp.param(np.array([0.5, 0.25]))
        self.steps = [Inner(), Inner()]
        self.extras = {"fmt": bp.param({"style": "short"})}
        self.frozen = bp.param(3, trainable=False)

    @bp.bundle(trainable=True)
    def post(self, text):
        return text.strip()


def test_named_parameters_recurse_in_attribute_order():
    names = [n for n, _ in Pipeline().named_parameters()]
    assert names == ["system", "gains", "steps.0.temperature", "steps.1.temperature", "extras.fmt", "frozen",
                     "post.code"]


def test_parameters_skip_frozen_ones_and_list_shared_ones_once():
    m = Pipeline()
    m.alias = m.system
    params = m.parameters()
    assert not any(p is m.frozen for p in params)
    assert sum(p is m.system for p in params) == 1


def test_state_dict_round_trips_through_json_file(tmp_path):
    m = Pipeline()
    m.system.value = "Answer in one word."
    m.gains.value = [0.1, 0.2]
    m.post.code.value = "def post(self, text):\n    return text.strip().lower()\n"
    path = m.save(tmp_path / "state.json")
    json.loads(path.read_text())  # plain JSON, no pickle
    fresh = Pipeline().load(path)
    assert fresh.system.value == "Answer in one word."
    assert fresh.gains.value.dtype == np.float64 and fresh.gains.value.tolist() == [0.1, 0.2]
    assert fresh.post.code.origin == "optimized" and "lower()" in fresh.post.code.value


def test_bad_state_changes_nothing():
    m = Pipeline()
    state = m.state_dict()
    state["system"]["value"] = "new"
    state["gains"]["value"] = [1, 2, 3]  # wrong shape
    with pytest.raises(bp.InvalidUpdate, match="gains"):
        m.load_state_dict(state)
    assert m.system.value == "Answer."


def test_strict_load_names_missing_and_unexpected_keys():
    m = Pipeline()
    state = m.state_dict()
    state.pop("system")
    state["bogus"] = {"type": "text", "value": ""}
    with pytest.raises(KeyError, match="missing \\['system'\\], unexpected \\['bogus'\\]"):
        m.load_state_dict(state)


def test_export_writes_optimized_values_and_code_as_runnable_source(tmp_path):
    m = Pipeline()
    m.system.value = "Optimized prompt."
    m.post.code.value = "def post(self, text):\n    return text.upper()\n"
    m.steps[0].temperature.value = 0.9
    source = m.export(tmp_path / "pipeline_opt.py")
    assert "bp.param('Optimized prompt.'" in source and "return text.upper()" in source
    spec = importlib.util.spec_from_file_location("pipeline_opt", tmp_path / "pipeline_opt.py")
    exported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exported)
    rebuilt = exported.build()
    assert rebuilt.system.value == "Optimized prompt."
    assert rebuilt.steps[0].temperature.value == 0.9
    assert rebuilt.post(" a ").value == " A "
