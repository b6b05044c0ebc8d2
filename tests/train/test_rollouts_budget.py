"""Rollouts keep order and turn failures into feedback; budgets and patience stop runs; the log truncates."""

from __future__ import annotations

import threading

import pytest
from train_programs import Multiplier, triples

import backprose as bp
from backprose.data import Dataset
from backprose.errors import LLMConnectionError
from backprose.train import Budget, ScriptedOptimizer, Trainer, rollouts
from backprose.train.budget import Spent
from backprose.train.events import EventLog, read_events
from backprose.train.guides import numeric


@bp.bundle()
def fragile(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x * 3


class Fragile(bp.Module):
    def __init__(self):
        self.p = bp.param("unused", name="p")

    def __call__(self, x):
        return fragile(x)


def test_rollouts_keep_input_order_under_threads_and_failures_become_feedback():
    data = Dataset(triples(12))
    results = rollouts(Fragile(), data, numeric, concurrency=6)
    assert [r.example.id for r in results] == [ex.id for ex in data]
    failed = [r for r in results if r.example.input == 3][0]
    assert failed.score == 0 and "three is not allowed" in failed.feedback
    assert isinstance(failed.output, bp.ErrorNode)
    assert all(r.score == 1 for r in results if r.example.input != 3)


def test_rollout_threads_are_really_concurrent():
    barrier = threading.Barrier(4, timeout=10)

    @bp.bundle()
    def wait(x):
        barrier.wait()  # deadlocks (then times out) unless four rollouts run at once
        return x

    class Waiter(bp.Module):
        def __init__(self):
            self.p = bp.param("x", name="p")

        def __call__(self, x):
            return wait(x)

    results = rollouts(Waiter(), Dataset(triples(4)), lambda o, e: 1.0, concurrency=4)
    assert [r.score for r in results] == [1.0] * 4


def test_an_unreachable_model_stops_the_run_instead_of_scoring_zero():
    @bp.bundle()
    def down(x):
        raise LLMConnectionError("http://127.0.0.1:9/v1", "refused")

    class Down(bp.Module):
        def __init__(self):
            self.p = bp.param("x", name="p")

        def __call__(self, x):
            return down(x)

    with pytest.raises(LLMConnectionError):
        rollouts(Down(), Dataset(triples(2)), numeric, concurrency=2)


def test_budget_reasons():
    assert Budget(steps=2).exhausted(Spent(steps=2)) == "budget of 2 steps reached"
    assert Budget(calls=10).exhausted(Spent(calls=9)) is None
    assert "cost" in Budget(cost=0.5).exhausted(Spent(cost=0.6))
    assert "patience 2" in Budget(patience=2).exhausted(Spent(), stale_steps=2)


def test_patience_stops_a_stalled_run():
    module = Multiplier(1)
    opt = ScriptedOptimizer(module.parameters(), lambda o, n: [{"k": 2}] * n)
    result = Trainer(module, triples(6), triples(3, 20), "numeric", opt, steps=50,
                     budget=Budget(patience=3)).fit()
    assert len(result.history) == 3 and "patience" in result.stopped


def test_event_log_truncates_back_to_a_checkpoint(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.emit("start")
    mark = log.offset()
    log.emit("rollouts", n=1)
    log.truncate(mark)
    log.emit("step", step=0)
    assert [r["event"] for r in read_events(tmp_path / "events.jsonl")] == ["start", "step"]


def test_a_call_budget_stops_inside_a_step_and_keeps_the_last_validated_program():
    from backprose.llm import Scripted
    from backprose.optimizers import OptoPrime

    module = Multiplier(1)
    # step 1: a bad reply, then its retry proposes k=3 (better, accepted); step 2's first reply is bad and
    # its retry would be the 4th call of a 3-call budget. One example no k solves keeps the minibatch (all
    # four) short of full marks, so step 2 asks for a proposal.
    llm = Scripted(['{"reasoning": "?"}', '{"reasoning": "x", "suggestion": {"k": 3}}', "not json", "never sent"])
    opt = OptoPrime(module.parameters(), llm=llm)
    data = [*triples(3), (4, 13)]
    result = Trainer(module, data, data, "numeric_loose", opt, steps=5, batch_size=4, concurrency=1,
                     budget=Budget(calls=3)).fit()
    assert len(llm.prompts) == 3 and llm.remaining == 1
    assert "budget of 3 model calls reached during a step" in result.stopped
    assert module.k.value == 3 and result.final_val == 0.75 and result.spent["calls"] == 3
    assert len(result.history) == 1 and result.history[0]["accepted"]


def test_a_call_budget_smaller_than_the_first_validation_says_so():
    from backprose.agent import Agent
    from backprose.errors import CallBudgetExhausted
    from backprose.llm import Scripted

    agent = Agent("s", "i", llm=Scripted(lambda m: "3"))
    with pytest.raises(CallBudgetExhausted) as info:
        Trainer(agent, triples(2), triples(4), "numeric", ScriptedOptimizer(agent.parameters(), []),
                budget=Budget(calls=2), concurrency=1).fit()
    assert "4 validation examples" in "".join(info.value.__notes__)


def test_a_candidate_cut_off_by_the_call_budget_is_not_kept():
    from backprose.agent import Agent
    from backprose.llm import Scripted

    # the candidate answers right (3x), the start always says 3 (right on 1 only)
    llm = Scripted(lambda m: str(3 * int(m[-1]["content"].split()[-1])) if "candidate" in m[-1]["content"] else "3")
    agent = Agent("s", "start", llm=llm)
    opt = ScriptedOptimizer(agent.parameters(), [{"agent.instructions": "candidate"}])
    # 2 calls for the first validation, 2 for the step's rollouts, 1 for the candidate on the example the start
    # misses (fixed), then its scoring on the rest of the minibatch runs out (3 calls left when the step
    # starts: enough for one minibatch call and a validation, so it starts)
    result = Trainer(agent, triples(2), triples(2), "numeric", opt, batch_size=2, steps=3, concurrency=1,
                     budget=Budget(calls=5)).fit()
    assert "during a step" in result.stopped and len(llm.prompts) == 5
    assert agent.instructions.value == "start"


def test_the_stop_reason_names_the_limit_that_refused_not_the_runs_own():
    from backprose.errors import CallBudgetExhausted
    from backprose.llm import Scripted
    from backprose.optimizers import OptoPrime

    module = Multiplier(1)
    replies = iter(['{"reasoning": "x", "suggestion": {"k": 2}}'])

    def capped(messages):  # the optimizer model's own client, capped at one call apart from the run's budget
        try:
            return next(replies)
        except StopIteration:
            raise CallBudgetExhausted(1) from None

    data = [*triples(3), (4, 13)]
    result = Trainer(module, data, data, "numeric_loose", OptoPrime(module.parameters(), llm=Scripted(capped)),
                     steps=5, batch_size=4, concurrency=1, budget=Budget(calls=100)).fit()
    assert "budget of 1 model calls reached during a step" in result.stopped
    assert "100" not in result.stopped


class TwoCalls(bp.Module):
    """Two model calls an example: a draft, then the answer (the model never gets it right)."""

    def __init__(self, llm):
        self.llm = llm
        self.instruction = bp.param("Add.", name="instruction")

    def __call__(self, question):
        draft = bp.call_llm(question, system=self.instruction, llm=self.llm)
        return bp.call_llm(draft, system="Give only the number.", llm=self.llm)


SUMS = [{"input": f"{a}+{a}?", "target": str(2 * a), "id": f"s{a}"} for a in range(1, 8)]


def test_no_step_starts_when_the_calls_left_cannot_pay_for_validating_a_change(tmp_path):
    from backprose.llm import Scripted

    def run(resume=False):
        llm = Scripted(lambda m: "7")
        module = TwoCalls(llm)
        opt = ScriptedOptimizer(module.parameters(), [{"instruction": "Add carefully."}] * 5)
        trainer = Trainer(module, SUMS[:4], SUMS[4:], "exact_match", opt, steps=5, batch_size=2,
                          budget=Budget(calls=12), run_dir=tmp_path / "run")
        return trainer.fit(resume=resume), llm

    result, llm = run()
    # the starting program's validation took 6 calls (3 examples, 2 calls each); 6 left cannot pay for the
    # 6 of another validation after at least one minibatch call
    assert len(llm.prompts) == 6 and result.spent["calls"] == 6 and result.history == []
    assert "cannot validate a change (6 calls on the 3 validation examples" in result.stopped
    resumed, llm = run(resume=True)  # the measured cost is in the checkpoint: a resumed run stops the same way
    assert llm.prompts == [] and resumed.stopped == result.stopped


def test_a_budget_that_could_pay_for_a_step_still_starts_it():
    from backprose.llm import Scripted

    llm = Scripted(lambda m: "7")
    module = TwoCalls(llm)
    opt = ScriptedOptimizer(module.parameters(), [{"instruction": "Add carefully."}])
    result = Trainer(module, SUMS[:4], SUMS[4:], "exact_match", opt, steps=2, batch_size=2,
                     budget=Budget(calls=13)).fit()
    assert "cannot validate" not in result.stopped and len(llm.prompts) == 13  # the step started, then ran out


def test_validation_answered_from_the_cache_still_counts_toward_what_a_change_costs(tmp_path):
    """A resumed run's starting validation may come from the response cache at no call; a new program's would
    not, so the cost measured for validating a change counts the cached requests too."""
    from backprose.llm import Scripted

    llm = Scripted(lambda m: "7", cache=str(tmp_path / "cache"))
    module = TwoCalls(llm)
    for example in SUMS[4:]:  # an earlier run's validation, cached: 3 examples, 2 requests each
        module(example["input"])
    warmed = len(llm.prompts)
    opt = ScriptedOptimizer(module.parameters(), [{"instruction": "Add carefully."}] * 5)
    result = Trainer(module, SUMS[:4], SUMS[4:], "exact_match", opt, steps=5, batch_size=2,
                     budget=Budget(calls=6)).fit()
    assert result.spent["calls"] == 0 and len(llm.prompts) == warmed  # the whole validation was cached
    assert "cannot validate a change (6 calls on the 3 validation examples" in result.stopped
