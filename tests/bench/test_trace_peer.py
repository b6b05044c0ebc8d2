"""The trace_opt system against a scripted OpenAI-compatible endpoint: what it sends, what it keeps, what it spends."""

import json
import os
import re

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # opto imports litellm; there is no network
pytest.importorskip("opto")

from bench.suite.program import OPTIMIZER_MODEL, PROGRAM_MODEL, Final  # noqa: E402
from bench.suite.systems import SYSTEMS  # noqa: E402
from bench.suite.systems.trace_peer import TraceOptPeer  # noqa: E402
from tests.bench.peer_fixtures import (  # noqa: E402
    INITIAL,
    PROPOSED,
    Script,
    SealedTask,
    by_model,
    env,
    program_calls_are_the_suites,
    server,
    system_of,
)


def parameter_name(body):
    """The instruction's name in OptoPrime's prompt (trace numbers nodes process-wide: instruction0, 1, ...)."""
    return re.search(r"\(str\) (instruction\d+)=", body["messages"][1]["content"]).group(1)


def proposing(*proposals):
    """OptoPrime's LLM proposing `proposals` in turn (then the last again), in the JSON it asks for."""
    queue = list(proposals)

    def reply(body):
        text = queue.pop(0) if len(queue) > 1 else queue[0]
        return json.dumps({"reasoning": "The answers miss the word.", "suggestion": {parameter_name(body): text}})

    return reply


def fit(script, **budget):
    task = SealedTask()
    with server(script) as fake:
        final = TraceOptPeer().fit(task, env(fake.base_url, **budget), seed=0)
        return final, list(fake.requests), task


def test_every_program_request_is_exactly_the_suites_program_at_its_pinned_temperature():
    final, requests, task = fit(Script(proposing(PROPOSED), {"validation": {PROPOSED}}), optimizer_calls=1)
    calls = program_calls_are_the_suites(requests, task, {INITIAL, PROPOSED})
    assert len(calls) == 4 + 3 + 4
    assert final == Final(PROPOSED)


def test_optimizer_requests_carry_the_pinned_temperature_which_traces_client_does_not_send():
    _, requests, _ = fit(Script(proposing(PROPOSED), {}), optimizer_calls=2, optimizer_temperature=0.55)
    calls = by_model(requests, OPTIMIZER_MODEL)
    assert len(calls) == 2
    assert all(b["temperature"] == 0.55 and b["response_format"] == {"type": "json_object"} for b in calls)


def test_one_optimizer_call_sees_the_whole_minibatch_and_the_guides_words():
    _, requests, task = fit(Script(proposing(PROPOSED), {}), optimizer_calls=1)
    (call,) = by_model(requests, OPTIMIZER_MODEL)
    prompt = call["messages"][1]["content"]
    trained = [ex for ex in task.train if ex.input in prompt]
    assert len(trained) == 3
    assert all(f"Wrong: expected '{ex.target}'" in prompt for ex in trained)
    assert INITIAL in prompt


def test_a_proposal_that_keeps_validation_accuracy_replaces_the_instruction():
    final, _, _ = fit(Script(proposing(PROPOSED), {"validation": {INITIAL, PROPOSED}}), optimizer_calls=1)
    assert final == Final(PROPOSED)


def test_a_proposal_that_lowers_validation_accuracy_is_reverted():
    final, requests, task = fit(Script(proposing(PROPOSED), {"validation": {INITIAL}}), optimizer_calls=1)
    validated = {system_of(b) for b in by_model(requests, PROGRAM_MODEL)
                 if b["messages"][-1]["content"] in {ex.input for ex in task.validation}}
    assert validated == {INITIAL, PROPOSED}
    assert final == Final(INITIAL)


def test_a_reverted_instruction_is_what_the_next_step_optimizes():
    later = PROPOSED + " Be brief."
    final, requests, _ = fit(Script(proposing("Guess.", later), {"validation": {INITIAL, later}}), optimizer_calls=2)
    second = by_model(requests, OPTIMIZER_MODEL)[1]["messages"][1]["content"]
    assert f"={INITIAL}" in second and "=Guess." not in second
    assert final == Final(later)


@pytest.mark.parametrize(("program_calls", "optimizer_calls", "spent"), [
    (200, 3, (4 + 3 * 7, 3)),  # 4 validation, then three steps of 3 forwards + 4 validation, one call each
    (12, 20, (11, 1)),  # 4 validation, then 3 + 4; a second step would need 5 more program calls
    (10, 20, (10, 1)),  # the minibatch shrinks to 2 to fit
    (200, 0, (0, 0)),  # no optimizer call: no step, so not even the first validation
])
def test_the_budget_maps_onto_whole_steps_and_is_never_exceeded(program_calls, optimizer_calls, spent):
    proposals = [PROPOSED + "!" * n for n in range(4)]
    script = Script(proposing(*proposals), {"validation": set(proposals)})
    _, requests, _ = fit(script, program_calls=program_calls, optimizer_calls=optimizer_calls)
    assert (len(by_model(requests, PROGRAM_MODEL)), len(by_model(requests, OPTIMIZER_MODEL))) == spent


def test_an_unusable_reply_leaves_the_instruction_and_skips_validation():
    final, requests, _ = fit(Script(lambda body: "I am not sure.", {}), optimizer_calls=1)
    assert final == Final(INITIAL)
    assert len(by_model(requests, PROGRAM_MODEL)) == 4 + 3


def test_the_system_is_registered_under_its_name():
    assert isinstance(SYSTEMS["trace_opt"](), TraceOptPeer)


def test_a_refused_json_request_is_asked_again_without_it_and_both_are_counted(caplog):
    faults = [{"kind": "reply", "text": "no idea"}] * 7 + ["400"]  # first validation and minibatch; then JSON refused
    task = SealedTask()
    script = Script(proposing(PROPOSED), {"validation": {PROPOSED}})
    for budget, expected in ((2, PROPOSED), (1, INITIAL)):
        with server(script) as fake:
            fake.add_faults(*faults)
            with caplog.at_level("INFO", logger="backprose"):
                final = TraceOptPeer().fit(task, env(fake.base_url, optimizer_calls=budget), seed=0)
            calls = by_model(fake.requests, OPTIMIZER_MODEL)
        assert final == Final(expected)
        assert len(calls) == budget  # the second, over a budget of 1, is refused before it is sent
        assert "response_format" in calls[0] and all("response_format" not in b for b in calls[1:])
    assert "OptoPrime asks again without it" in caplog.text
    assert "budget of 1 calls is spent" in caplog.text


def test_a_failed_optimizer_request_drops_that_step_only(caplog):
    task = SealedTask()
    with server(Script(proposing(PROPOSED), {"validation": {PROPOSED}})) as fake:
        fake.add_faults(*[{"kind": "reply", "text": "no idea"}] * 7, "400", "400")  # with and without JSON
        with caplog.at_level("WARNING", logger="backprose"):
            final = TraceOptPeer().fit(task, env(fake.base_url, optimizer_calls=3), seed=0)
        assert len(by_model(fake.requests, OPTIMIZER_MODEL)) == 3
    assert final == Final(PROPOSED)
    assert "the step is dropped" in caplog.text


def test_fit_trains_on_train_and_validation_and_never_reads_test():
    task = SealedTask()  # reading task.test raises
    with server(Script(proposing(PROPOSED), {"validation": {PROPOSED}})) as fake:
        TraceOptPeer().fit(task, env(fake.base_url), seed=0)
        asked = {b["messages"][-1]["content"].split(" ", 1)[0] for b in by_model(fake.requests, PROGRAM_MODEL)}
    assert asked == {"train", "validation"}
