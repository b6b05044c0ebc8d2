"""Live: one generation with the embedded local model gives a design that is evaluated and archived."""

from __future__ import annotations

import json

import pytest

from backprose.isolation import Limits
from backprose.search import MetaAgentSearch, arithmetic


@pytest.mark.live
def test_one_generation_with_the_local_model(local_llm, tmp_path):
    task = arithmetic(2, 0, seed=0)
    agents = {"kind": "openai", "base_url": local_llm.base_url, "model": local_llm.model,
              "options": {"max_tokens": 32, "temperature": 0}, "response_format_style": "json_object_schema"}
    path = tmp_path / "archive.jsonl"
    with MetaAgentSearch(task, path, local_llm, agents, seeds=[], reflections=0, debug_rounds=1,
                         limits=Limits(wall_time=240), max_calls=2,
                         meta_options={"max_tokens": 1400, "temperature": 0}) as search:
        design = search.step(1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["design"]["name"] == design.name
    assert design.usage["meta_calls"] >= 1
    # The meta agent's reply was usable, and the design ran isolated (successfully, or with its error fed back).
    assert design.code.strip() and design.attempts and design.attempts[0]["stage"] == "proposal"
    if design.ok:  # evaluated on both problems (whether the design chose to call the model is its own business)
        assert design.fitness.n == 2 and "agent_calls" in design.usage
    else:
        assert design.error and len(design.attempts) == 2
