"""One forward and one backward pass of a tiny agent network on the embedded model."""

import re

import pytest

import backprose as bp
from backprose.networks import AgentNetwork, NetworkOptimizer

pytestmark = pytest.mark.live

SPEC = {"task": "Answer arithmetic questions with a number.",
        "layers": [{"name": "solve", "subtask": "compute the result", "aggregation": "vote",
                    "agents": [{"id": "calc", "role": "You do arithmetic.", "prompt": "Reply with the number only."}]}]}


def test_one_forward_and_one_backward_pass(local_llm):
    net = AgentNetwork(SPEC, llm=local_llm, max_tokens=8, temperature=0)
    out = net("What is 2 + 3?")
    assert isinstance(out.value, str) and out.value.strip()
    assert any(p is net.agent("solve", "calc").instructions for p in bp.parameters_of(out))
    bp.backward(out, "Score: 0. The answer must be 5, written as the digit only.")
    opt = NetworkOptimizer(net, local_llm, max_tokens=64)
    opt.gradients.max_tokens = 64
    proposals = opt.propose()
    kinds = [entry["kind"] for entry in opt.gradients.log]
    assert kinds == ["global", "local"]  # one global and one local gradient call, over the recorded run
    for p in net.parameters():  # whatever gradient text came back landed as feedback, never the raw trace
        assert all(fb.extra.get("gradient") in ("global", "local") for fb in p.feedback)
    for proposal in proposals:
        update = opt.apply(proposal)
        assert all(c.accepted or c.reason for c in update.changes)
        assert net.spec()["layers"]  # the network is still a valid network
    # The feedback names the answer: after the update the network gives it.
    assert re.findall(r"-?\d+", net("What is 2 + 3?").value) == ["5"]
