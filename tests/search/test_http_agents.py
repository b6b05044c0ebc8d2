"""Agents' calls over real HTTP from the workers: an OpenAI client is rebuilt in each worker from plain
config, its calls are counted in the archive, and the shared on-disk cache makes a rerun call nothing."""

from __future__ import annotations

from search_helpers import design_reply, meta_responder

from backprose.llm import OpenAI, Scripted
from backprose.search import Design, MetaAgentSearch
from backprose.testing_server import FakeOpenAIServer

CODE = '''from backprose.search.blocks import llm

PROMPTS = {"solve": "Solve and verify: {task}"}


def forward(task):
    return llm(PROMPTS["solve"].format(task=task)).rsplit("Answer:", 1)[-1].strip()
'''


def test_agents_call_the_server_from_the_workers_and_replay_from_the_cache(task, sandbox, tmp_path):
    def answer(body):
        return "Answer: 7"

    with FakeOpenAIServer(reply=answer) as server:
        agents = OpenAI("fake-model", server.base_url, cache=str(tmp_path / "cache"), max_retries=0)
        seed = Design("direct", "answer", CODE.replace("Solve and verify", "Solve"))

        def search(path):
            meta = Scripted(meta_responder([design_reply("verify", CODE)]))
            return MetaAgentSearch(task, tmp_path / path, meta, agents, seeds=[seed], sandbox=sandbox,
                                   reflections=0)

        first = search("first.jsonl")
        first.run(1)
        n = len(task.validation)
        assert server.calls == 3 * n  # seed and new design on validation, then the best on test
        assert [d.usage["agent_calls"] for d in first.archive] == [n, n]
        assert {b["model"] for b in server.requests} == {"fake-model"}

        again = search("again.jsonl")
        result = again.run(1)
        assert server.calls == 3 * n  # every agent call came from the shared cache
        # the whole search's totals still show the workload: every request, replayed instead of sent
        assert result.usage["agent_calls"] == 0
        assert result.usage["agent_cache_hits"] == 2 * n + len(task.test)
        assert [d.usage["agent_calls"] for d in again.archive] == [0, 0]
        assert [d.usage["agent_cache_hits"] for d in again.archive] == [n, n]
        assert [d.scores for d in again.archive] == [d.scores for d in first.archive]
