"""Replies that are readable but not strict JSON (raw newlines in strings) still reach the network."""

import json

import pytest
from ann_helpers import SPEC, role

from backprose.errors import LLMFormatError
from backprose.llm import Scripted
from backprose.networks import AgentNetwork, NetworkGradients
from backprose.networks.plan import decompose
from backprose.networks.replies import ask_json, lenient_json

RAW_NEWLINES = '{"critique": "layer one\nshould check its sums", "edits": []}'


def test_lenient_json_reads_control_characters_inside_strings():
    with pytest.raises(ValueError):
        json.loads(RAW_NEWLINES)
    assert lenient_json("Sure:\n" + RAW_NEWLINES + "\nDone.") == {"critique": "layer one\nshould check its sums",
                                                                  "edits": []}
    assert lenient_json("no object here [1, 2]") is None


def test_ask_json_keeps_a_reply_the_strict_reader_refuses_and_still_fails_on_prose():
    schema = {"type": "object", "properties": {"critique": {"type": "string"}}, "required": ["critique"]}
    messages = [{"role": "user", "content": "review"}]
    assert ask_json(Scripted(lambda m: RAW_NEWLINES), messages, schema, name="g")["critique"].startswith("layer one")
    with pytest.raises(LLMFormatError):
        ask_json(Scripted(lambda m: "I have no opinion."), messages, schema, name="g")


def test_a_global_gradient_with_raw_newlines_is_used_not_dropped(spec):
    def reply(messages):
        kind = role(messages)
        if kind == "global":
            return RAW_NEWLINES
        if kind == "local":
            return '{"layer": "add\nthe numbers", "agents": {"a": "show\tthe sum"}}'
        return "12"

    net = AgentNetwork(spec, llm=Scripted(reply))
    out = net("3 * 4?")
    grads = NetworkGradients(Scripted(reply)).backward(net, [out], ["Score: 0. Expected 13."])
    assert grads.critique == "layer one\nshould check its sums"
    assert grads.layers["solve"] == "add\nthe numbers" and grads.agents["solve"] == {"a": "show\tthe sum"}


def test_a_design_with_raw_newlines_is_used_instead_of_the_fallback():
    doc = json.loads(json.dumps(SPEC))
    doc["layers"][0]["subtask"] = "multiply first"
    text = json.dumps(doc).replace("multiply first", "multiply\nfirst")
    fallback = {**SPEC, "layers": [dict(SPEC["layers"][1], name="only")]}
    got = decompose("add numbers", llm=Scripted(lambda m: text), layers=2, team_size=2, fallback=fallback)
    assert got["layers"][0]["subtask"] == "multiply\nfirst"


def test_a_lenient_reply_missing_a_required_key_is_still_an_error():
    schema = {"type": "object", "required": ["layers"]}
    with pytest.raises(LLMFormatError):
        ask_json(Scripted(lambda m: '{"steps": "one\ntwo"}'), [{"role": "user", "content": "x"}], schema, name="s")
