"""The peers' one door to the endpoint: budgets that are never passed, retries that are counted."""

import pytest

from backprose.testing_server import FakeOpenAIServer
from bench.suite import program
from bench.suite.program import OPTIMIZER_MODEL, PROGRAM_MODEL
from bench.suite.systems.base import Env
from bench.suite.systems.budget import BudgetSpent, Calls


def calls(fake, program_calls=5, optimizer_calls=5):
    env = Env(base_url=fake.base_url, program_calls=program_calls, optimizer_calls=optimizer_calls,
              optimizer_temperature=0.3)
    return Calls(env, "navigate")


def test_a_request_past_the_budget_is_refused_and_never_sent():
    with FakeOpenAIServer(reply="A", models=[PROGRAM_MODEL, OPTIMIZER_MODEL]) as fake:
        door = calls(fake, program_calls=2, optimizer_calls=1)
        assert [door.program("Answer.", "Q?") for _ in range(2)] == ["A", "A"]
        door.optimizer([{"role": "user", "content": "improve"}])
        with pytest.raises(BudgetSpent, match="program budget of 2 calls is spent"):
            door.program("Answer.", "Q?")
        with pytest.raises(BudgetSpent, match="optimizer budget of 1 calls"):
            door.optimizer([{"role": "user", "content": "improve"}])
        assert fake.calls == 3


def test_a_retried_request_counts_every_attempt(caplog):
    with FakeOpenAIServer(reply="A", faults=["500", "503"], models=[PROGRAM_MODEL]) as fake:
        door = calls(fake)
        with caplog.at_level("WARNING", logger="backprose"):
            assert door.program("Answer.", "Q?") == "A"
        assert (fake.calls, door.budget.left("program")) == (3, 2)
        assert caplog.text.count("trying again") == 2


def test_requests_carry_the_models_and_the_pinned_temperatures_of_the_env():
    with FakeOpenAIServer(reply="A", models=[PROGRAM_MODEL, OPTIMIZER_MODEL]) as fake:
        door = calls(fake)
        door.program("Answer.", "Q?")
        door.optimizer([{"role": "user", "content": "improve"}], response_format={"type": "json_object"})
        sent, asked = fake.requests
    assert sent == {"model": PROGRAM_MODEL, "messages": program.messages("Answer.", "Q?"), "temperature": 0.0,
                    "max_tokens": program.max_tokens("navigate")}
    assert (asked["model"], asked["temperature"], asked["response_format"]) == (OPTIMIZER_MODEL, 0.3,
                                                                                {"type": "json_object"})
