"""An agent network's optimizer sees what each run was asked: the global gradient from the trainer's
inputs, the local gradients and Reflect's rewrites from each layer's input."""

from __future__ import annotations

import json

import pytest
from ann_helpers import SPEC, player, role

import backprose as bp
from backprose.networks import AgentNetwork, NetworkOptimizer

QUESTIONS = ["Which river runs through Quillborough?", "How many moons does planet Zorvath have?"]


@pytest.mark.parametrize("rewriter", ["reflect", "textgrad"])
def test_every_prompt_that_shows_runs_shows_their_question(rewriter):
    llm = player(lambda messages: "no idea")
    net = AgentNetwork(json.loads(json.dumps(SPEC)), llm=llm)
    opt = NetworkOptimizer(net, llm, rewriter=rewriter, per_step=None, demos=0)
    bp.train(net, [(q, "the answer") for q in QUESTIONS], optimizer=opt, steps=1, batch_size=2, concurrency=1)
    kinds = ["global", "local", *(["reflect"] if rewriter == "reflect" else [])]
    prompts = [(role(m), m[-1]["content"]) for m in llm.prompts]
    for kind in kinds:
        shown = [text for k, text in prompts if k == kind]
        assert shown and all(q in text for text in shown for q in QUESTIONS), kind
