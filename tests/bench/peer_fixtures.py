"""A small task whose test split cannot be read, and a scripted endpoint for the peer systems' tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backprose.data import Dataset, Example
from backprose.testing_server import FakeOpenAIServer
from bench.suite.program import OPTIMIZER_MODEL, PROGRAM_MODEL
from bench.suite.systems.base import Env

INITIAL = "Answer the question."
PROPOSED = "Answer with the word after 'is'."


class SealedTask:
    """A task as the suite hands it to a system, except that reading `test` fails the test."""

    name = "fake_task"
    instruction = INITIAL

    def __init__(self, train: int = 6, validation: int = 4) -> None:
        self.train = Dataset([Example(f"train {i}: the answer is a{i}", f"a{i}", f"t{i}") for i in range(train)])
        self.validation = Dataset([Example(f"validation {i}: the answer is b{i}", f"b{i}", f"v{i}")
                                   for i in range(validation)])

    @property
    def test(self) -> Dataset:
        raise AssertionError("a system read task.test while training")

    @staticmethod
    def guide(output: str, example: Example) -> tuple[float, str]:
        if output.strip() == example.target:
            return 1.0, "Correct."
        return 0.0, f"Wrong: expected {example.target!r}, got {output.strip()!r}."


def answer(question: str) -> str:
    return question.rsplit("is ", 1)[1]


class Script:
    """Plays the program model and the optimizer model.

    The program answers right only under the instructions in `right_on`, else "no idea" (`right_on` maps
    a split's name, "train" or "validation", to those instructions). The optimizer answers with
    `optimizer(body)`.
    """

    def __init__(self, optimizer: Callable[[dict[str, Any]], str], right_on: dict[str, set[str]]) -> None:
        self.optimizer = optimizer
        self.right_on = right_on

    def __call__(self, body: dict[str, Any]) -> str:
        if body["model"] == OPTIMIZER_MODEL:
            return self.optimizer(body)
        messages = body["messages"]
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        question = messages[-1]["content"]
        split = question.split(" ", 1)[0]
        return answer(question) if system in self.right_on.get(split, set()) else "no idea"


def server(script: Script) -> FakeOpenAIServer:
    return FakeOpenAIServer(reply=script, models=[PROGRAM_MODEL, OPTIMIZER_MODEL])


def env(base_url: str, program_calls: int = 200, optimizer_calls: int = 20, **more: Any) -> Env:
    return Env(base_url=base_url, program_calls=program_calls, optimizer_calls=optimizer_calls, **more)


def by_model(requests: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [r for r in requests if r["model"] == model]


def system_of(body: dict[str, Any]) -> str:
    return body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""


def program_calls_are_the_suites(requests: list[dict[str, Any]], task: Any, instructions: set[str]) -> list[dict]:
    """Check every program request is exactly the suite's program (train or validation question, one of
    `instructions`, pinned temperature and token limit); return them."""
    from bench.suite import program

    questions = {ex.input for ex in [*task.train, *task.validation]}
    calls = by_model(requests, PROGRAM_MODEL)
    for body in calls:
        question = body["messages"][-1]["content"]
        assert question in questions
        assert body["messages"] == program.messages(system_of(body), question)
        assert system_of(body) in instructions
        assert (body["temperature"], body["max_tokens"]) == (0.0, program.max_tokens(task.name))
    return calls
