"""Agent networks say what they did instead: fallbacks and skipped steps are logged, typos are refused,
and every write of a network's value goes through its parameter's checks."""

from __future__ import annotations

import logging

import pytest
from ann_helpers import SPEC, player

from backprose.errors import InvalidUpdate, NoFeedbackWarning, UnknownOption
from backprose.llm import Scripted
from backprose.networks import AgentNetwork, NetworkOptimizer


def test_build_logs_the_fallback_after_failed_designs(caplog):
    caplog.set_level(logging.INFO, logger="backprose")
    net = AgentNetwork.build("t", llm=player(lambda m: "1", plan={"steps": 1}), fallback=SPEC)
    assert [layer["name"] for layer in net.layers] == ["solve", "answer"]
    [line] = [r for r in caplog.records if "fallback" in r.getMessage()]
    assert line.name.startswith("backprose") and line.levelno == logging.WARNING
    # each failed design is a line too
    assert sum("network design" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records) == 2


def test_the_network_optimizer_warns_when_no_run_was_judged(spec):
    net = AgentNetwork(spec, llm=Scripted([]))
    with pytest.warns(NoFeedbackWarning, match="structure"):
        update = NetworkOptimizer(net, Scripted([])).step()
    assert "no feedback reached 'structure'" in repr(update)


def test_the_network_optimizer_refuses_an_unknown_option(spec):
    net = AgentNetwork(spec, llm=Scripted([]))
    with pytest.raises(UnknownOption, match="did you mean 'per_step'"):
        NetworkOptimizer(net, Scripted([]), per_stpe=1)


def test_set_spec_checks_each_text_through_its_parameter(spec):
    """A projection on a text is honoured when a spec is adopted, as on every other write."""
    net = AgentNetwork(spec, llm=Scripted([]))
    agg = net.aggregator("solve")
    agg.projection = lambda v: v.strip()
    doc = net.spec()
    doc["layers"][0]["aggregator"] = "  Merge the answers.  "
    net.set_spec(doc)
    assert agg.value == "Merge the answers."
    agg.projection = lambda v: v if len(v) < 10 else 1 / 0
    doc["layers"][0]["aggregator"] = "A much longer aggregator prompt."
    doc["layers"][0]["agents"][0]["role"] = "You are a new calculator."  # written before the refused text
    with pytest.raises(InvalidUpdate, match="projection"):
        net.set_spec(doc)
    assert agg.value == "Merge the answers."
    assert net.agent("solve", "a").system.value == "You are a calculator."  # all or nothing


def test_adapt_logs_keeping_the_learned_spec(spec, caplog):
    from backprose.networks import adapt

    caplog.set_level(logging.INFO, logger="backprose")
    net = AgentNetwork(spec, llm=player(lambda m: "1"))
    doc = adapt(net.spec(), "other", llm=player(lambda m: "1", plan={"layers": "?"}))
    assert [layer["name"] for layer in doc["layers"]] == ["solve", "answer"]
    assert any(r.levelno == logging.WARNING and "keeping the learned spec" in r.getMessage() for r in caplog.records)


def test_a_gradient_whose_reply_stays_unusable_is_logged_as_skipped(spec, caplog):
    from backprose.networks.gradients import NetworkGradients

    caplog.set_level(logging.INFO, logger="backprose")
    grads = NetworkGradients(Scripted(["not json", "still not json"]))
    schema = {"type": "object", "required": ["critique"]}
    assert grads._ask("global", "global_gradient_system.j2", "review", schema) is None
    assert any("global gradient skipped" in r.getMessage() for r in caplog.records)
