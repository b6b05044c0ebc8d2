"""The textgrad system against a scripted OpenAI-compatible endpoint: what it sends, what it keeps, what it spends."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TEXTGRAD_LOG_DIR", str(Path(tempfile.gettempdir()) / "textgrad-logs"))  # not ./logs
pytest.importorskip("textgrad")

from bench.suite.program import OPTIMIZER_MODEL, PROGRAM_MODEL, Final  # noqa: E402
from bench.suite.systems import SYSTEMS  # noqa: E402
from bench.suite.systems.textgrad_peer import TextGradPeer  # noqa: E402
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

UPDATE_MARK = "creatively and critically improve"  # in TextualGradientDescent's system prompt


def proposing(*proposals):
    """An optimizer that proposes `proposals` in turn (then the last again) and gives one fixed gradient."""
    queue = list(proposals)

    def reply(body):
        if UPDATE_MARK in body["messages"][0]["content"]:
            text = queue.pop(0) if len(queue) > 1 else queue[0]
            return f"Here it is: <IMPROVED_VARIABLE>{text}</IMPROVED_VARIABLE>"
        return "Tell the model to answer with the word that follows 'is'."

    return reply


optimizer = proposing(PROPOSED)


def fit(script, **budget):
    task = SealedTask()
    with server(script) as fake:
        final = TextGradPeer().fit(task, env(fake.base_url, **budget), seed=0)
        return final, list(fake.requests), task


def test_every_program_request_is_exactly_the_suites_program_at_its_pinned_temperature():
    final, requests, task = fit(Script(optimizer, {"validation": {PROPOSED}}), optimizer_calls=7)
    calls = program_calls_are_the_suites(requests, task, {INITIAL, PROPOSED})
    assert calls
    assert final == Final(PROPOSED)


def test_optimizer_requests_carry_the_pinned_temperature_not_textgrads_default():
    _, requests, _ = fit(Script(optimizer, {}), optimizer_calls=7, optimizer_temperature=0.55)
    calls = by_model(requests, OPTIMIZER_MODEL)
    assert len(calls) == 7
    assert {body["temperature"] for body in calls} == {0.55}


def test_a_proposal_that_keeps_validation_accuracy_replaces_the_instruction():
    final, requests, _ = fit(Script(optimizer, {"validation": {INITIAL, PROPOSED}}), optimizer_calls=7)
    assert final == Final(PROPOSED)
    updates = [b for b in by_model(requests, OPTIMIZER_MODEL) if UPDATE_MARK in b["messages"][0]["content"]]
    assert len(updates) == 1 and INITIAL in updates[0]["messages"][1]["content"]


def test_a_proposal_that_lowers_validation_accuracy_is_reverted():
    final, requests, task = fit(Script(optimizer, {"validation": {INITIAL}}), optimizer_calls=7)
    validated = {system_of(b) for b in by_model(requests, PROGRAM_MODEL)
                 if b["messages"][-1]["content"] in {ex.input for ex in task.validation}}
    assert validated == {INITIAL, PROPOSED}  # the proposal was tried on validation, then dropped
    assert final == Final(INITIAL)


def test_the_minibatch_feedback_carries_the_question_and_the_guides_words():
    _, requests, task = fit(Script(optimizer, {}), optimizer_calls=7)
    gradients = "\n".join(b["messages"][1]["content"] for b in by_model(requests, OPTIMIZER_MODEL)
                          if UPDATE_MARK not in b["messages"][0]["content"])
    trained = [ex for ex in task.train if ex.input in gradients]
    assert len(trained) == 3  # one minibatch
    assert all(f"Wrong: expected '{ex.target}'" in gradients for ex in trained)


@pytest.mark.parametrize(("program_calls", "optimizer_calls", "spent"), [
    (200, 12, (17, 12)),  # 4 validation; step of 3: 3 + 4 and 7; step of 2 (fits 5 calls): 2 + 4 and 5
    (200, 6, (10, 5)),  # one step of 2 (5 calls); a step of 3 would need 7
    (12, 20, (11, 7)),  # 4 validation, then 3 + 4; a second step would need 5 more program calls
    (3, 20, (0, 0)),  # not even the first validation fits: nothing is sent
])
def test_the_budget_maps_onto_whole_steps_and_is_never_exceeded(program_calls, optimizer_calls, spent):
    script = Script(proposing(PROPOSED, PROPOSED + " Be brief."), {"validation": {PROPOSED, PROPOSED + " Be brief."}})
    final, requests, _ = fit(script, program_calls=program_calls, optimizer_calls=optimizer_calls)
    assert (len(by_model(requests, PROGRAM_MODEL)), len(by_model(requests, OPTIMIZER_MODEL))) == spent
    assert final.instruction == (INITIAL if spent[1] == 0 else PROPOSED if spent[1] < 12 else PROPOSED + " Be brief.")


def test_a_reply_without_the_tags_leaves_the_instruction_and_skips_validation():
    def untagged(body):
        return "I would rephrase it." if UPDATE_MARK in body["messages"][0]["content"] else "Be precise."

    final, requests, _ = fit(Script(untagged, {}), optimizer_calls=7)
    assert final == Final(INITIAL)
    assert len(by_model(requests, PROGRAM_MODEL)) == 4 + 3  # first validation and one minibatch, no second one


def test_the_seed_draws_the_minibatches():
    firsts = []
    for seed in (0, 1, 2, 3):
        task = SealedTask()
        with server(Script(optimizer, {})) as fake:
            TextGradPeer().fit(task, env(fake.base_url, optimizer_calls=7), seed=seed)
            firsts.append(tuple(b["messages"][-1]["content"] for b in by_model(fake.requests, PROGRAM_MODEL)
                                if b["messages"][-1]["content"].startswith("train")))
    assert len(set(firsts)) > 1


def test_the_system_is_registered_under_its_name():
    assert isinstance(SYSTEMS["textgrad"](), TextGradPeer)


def test_a_failed_optimizer_request_drops_that_step_only(caplog):
    task = SealedTask()
    with server(Script(optimizer, {"validation": {PROPOSED}})) as fake:
        fake.add_faults(*[{"kind": "reply", "text": "no idea"}] * 7, "400")  # the first gradient is refused
        with caplog.at_level("WARNING", logger="backprose"):
            final = TextGradPeer().fit(task, env(fake.base_url, optimizer_calls=8), seed=0)
        assert len(by_model(fake.requests, OPTIMIZER_MODEL)) == 8  # the failed one, then a whole step of 7
    assert final == Final(PROPOSED)
    assert "the step is dropped" in caplog.text


def test_fit_trains_on_train_and_validation_and_never_reads_test():
    task = SealedTask()  # reading task.test raises
    with server(Script(optimizer, {"validation": {PROPOSED}})) as fake:
        TextGradPeer().fit(task, env(fake.base_url), seed=0)
        asked = {b["messages"][-1]["content"].split(" ", 1)[0] for b in by_model(fake.requests, PROGRAM_MODEL)}
    assert asked == {"train", "validation"}
