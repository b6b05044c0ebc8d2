"""Validation-gated acceptance: the current program's validation score never goes down."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from train_programs import Multiplier, triples

import backprose as bp
from backprose.train import ScriptedOptimizer, Trainer


class Lookup(bp.Module):
    """Its output is the parameter itself; the guide looks the score up in a scripted table."""

    def __init__(self) -> None:
        self.choice = bp.param(0, name="choice", description="which scripted candidate is live")

    def __call__(self, x: int) -> bp.Node:
        return pick(x, self.choice)


@bp.bundle()
def pick(x: int, choice: int) -> tuple[int, int]:
    return (choice, x)


def table_guide(table: list[list[float]]):
    def guide(output, example):
        choice, x = output
        return table[choice][x], f"candidate {choice} scored {table[choice][x]}"
    return guide


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=6, max_size=6), min_size=2,
                max_size=7), st.integers(0, 2**16))
def test_validation_score_never_decreases(table, seed):
    module = Lookup()
    # every step proposes the next scripted candidate; scores per example come from the table
    script = [{"choice": i} for i in range(1, len(table))]
    opt = ScriptedOptimizer(module.parameters(), script)
    train = [(i, None) for i in range(3)]
    val = [(i, None) for i in range(3, 6)]
    result = Trainer(module, train, val, table_guide(table), opt, steps=len(table) - 1, batch_size=2,
                     seed=seed, concurrency=1).fit()
    vals = [result.initial_val] + [h["val_after"] if h["accepted"] else h["val_before"] for h in result.history]
    assert all(b >= a for a, b in zip(vals, vals[1:], strict=False))
    assert result.final_val >= result.initial_val
    live = module.choice.value
    assert result.final_val == sum(table[live][3:6]) / 3
    for h in result.history:
        if h["accepted"]:
            assert h["batch_after"] > h["batch_before"] and h["val_after"] >= h["val_before"]


def test_worse_on_validation_is_reverted():
    module = Multiplier(3)  # already perfect
    opt = ScriptedOptimizer(module.parameters(), [{"k": 4}])
    result = Trainer(module, triples(4), triples(4, 10), "numeric", opt, steps=1, batch_size=2).fit()
    assert module.k.value == 3
    assert result.history[0]["accepted"] is False
    assert result.final_val == result.initial_val == 1.0


def test_better_candidate_is_adopted_and_feedback_reaches_the_optimizer():
    module = Multiplier(1)
    opt = ScriptedOptimizer(module.parameters(), [{"k": 3}])
    result = Trainer(module, triples(6), triples(4, 20), "numeric", opt, steps=1, batch_size=3).fit()
    assert module.k.value == 3 and result.final_val == 1.0 and result.initial_val == 0.0
    assert len(opt.seen[0]) == 3 and all("expected" in text for text in opt.seen[0])


def test_minibatch_gate_blocks_candidates_that_do_not_help_the_batch():
    module = Multiplier(1)
    opt = ScriptedOptimizer(module.parameters(), [{"k": 2}])
    result = Trainer(module, triples(6), triples(4, 20), "numeric", opt, steps=1, batch_size=3).fit()
    rec = result.history[0]
    assert not rec["accepted"] and rec["val_after"] is None and "minibatch" in rec["reason"]
    assert module.k.value == 1


def test_package_is_callable_as_bp_train():
    """`bp.train(...)` runs a Trainer while `bp.train.Trainer` and `import backprose.train` still work."""
    import backprose.train as train_package

    assert train_package is bp.train and bp.train.Trainer is Trainer
    module = Multiplier(3)
    opt = ScriptedOptimizer(module.parameters(), [{"k": 4}])
    result = bp.train(module, triples(4), triples(4, 10), "numeric", opt, steps=1, batch_size=2)
    assert result.final_val >= result.initial_val and module.k.value == 3


def test_trainer_backpropagates_with_the_optimizers_own_propagator():
    """TextGrad writes its gradients during backward; the trainer must pass its propagator along."""
    import json

    from backprose.llm import Scripted
    from backprose.optimizers import TextGrad

    asked = []

    def answer(messages):
        if messages[0]["content"].startswith("You improve one variable"):
            return json.dumps({"reasoning": "k must be 3", "value": 3})
        asked.append(messages)
        return "Use 3 as the multiplier."

    module = Multiplier(2)
    opt = TextGrad(module.parameters(), llm=Scripted(answer))
    result = bp.train(module, triples(4), triples(4, 10), "numeric", opt, steps=1, batch_size=2)
    assert asked, "no gradient call: backward ran without TextGrad's propagator"
    assert module.k.value == 3 and result.final_val > result.initial_val


def counting_guide(table: list[list[float]], runs: list[tuple[int, int]]):
    """`table_guide` that also records which (candidate, example) pairs were run."""
    judge = table_guide(table)

    def guide(output, example):
        runs.append(output)
        return judge(output, example)
    return guide


def test_a_candidate_that_fixes_no_missed_example_is_refused_before_the_rest_runs():
    module = Lookup()
    runs: list[tuple[int, int]] = []
    table = [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]  # the candidate misses what the current program misses
    opt = ScriptedOptimizer(module.parameters(), [{"choice": 1}])
    result = Trainer(module, [(0, None), (1, None)], [(2, None)], counting_guide(table, runs), opt, steps=1,
                     batch_size=2, concurrency=1).fit()
    rec = result.history[0]
    assert [r for r in runs if r[0] == 1] == [(1, 1)]  # only the missed example ran
    assert not rec["accepted"] and rec["batch_after"] is None and "misses" in rec["reason"]
    assert [r["value"] for r in opt.refusals(module.choice)] == [1]  # the optimizer hears of it as of any refusal


def test_a_candidate_that_fixes_a_missed_example_runs_the_whole_minibatch():
    module = Lookup()
    runs: list[tuple[int, int]] = []
    table = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]  # fixes example 1, breaks example 0
    opt = ScriptedOptimizer(module.parameters(), [{"choice": 1}])
    result = Trainer(module, [(0, None), (1, None)], [(2, None)], counting_guide(table, runs), opt, steps=1,
                     batch_size=2, concurrency=1).fit()
    rec = result.history[0]
    assert sorted(r for r in runs if r[0] == 1) == [(1, 0), (1, 1)]
    assert rec["batch_after"] == 0.5 and "0.500 <= 0.500" in rec["reason"]


def test_best_of_n_races_each_candidate_against_the_best_so_far():
    from backprose.train.strategies import BestOfN

    module = Lookup()
    runs: list[tuple[int, int]] = []
    # candidate 1 fixes nothing, 2 solves both, 3 would tie with 2 and so is never run
    table = [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    opt = ScriptedOptimizer(module.parameters(), lambda o, n: [{"choice": c} for c in (1, 2, 3)][:n])
    result = Trainer(module, [(0, None), (1, None)], [(2, None)], counting_guide(table, runs), opt, steps=1,
                     batch_size=2, concurrency=1, strategy=BestOfN(3)).fit()
    assert [r for r in runs if r[0] == 1] == [(1, 1)]
    assert not [r for r in runs if r[0] == 3]
    assert result.history[0]["accepted"] and module.choice.value == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=4, max_size=4), min_size=2, max_size=5),
       st.integers(0, 2**16))
def test_racing_decides_as_scoring_the_whole_minibatch_would(table, seed):
    """Stopping a candidate early (or not asking for one on a solved minibatch) never changes the gate's
    verdict: full scores give the same decisions."""
    module = Lookup()
    opt = ScriptedOptimizer(module.parameters(), [{"choice": i} for i in range(1, len(table))])
    train = [(i, None) for i in range(3)]
    result = Trainer(module, train, [(3, None)], table_guide(table), opt, steps=len(table) - 1, batch_size=2,
                     seed=seed, concurrency=1).fit()
    live = 0
    for h in result.history:
        batch = [int(i) for i in h["batch"]]
        before = sum(table[live][i] for i in batch) / len(batch)
        assert h["batch_before"] == before
        if before == 1:  # nothing can beat full marks: no proposal is asked for
            assert not h["accepted"] and "full marks" in h["reason"] and "candidate" not in h
            continue
        row = h["update"]["changes"][0]["new"]  # the scripted proposals are table rows, in order
        after = sum(table[row][i] for i in batch) / len(batch)
        if h["batch_after"] is None:
            assert after <= before
        else:
            assert h["batch_after"] == after
        assert h["accepted"] == (after > before and table[row][3] >= table[live][3])
        live = row if h["accepted"] else live


def test_a_minibatch_known_to_be_solved_costs_nothing_and_asks_for_no_proposal():
    module = Lookup()
    runs: list[tuple[int, int]] = []
    table = [[1.0, 1.0], [1.0, 1.0]]
    opt = ScriptedOptimizer(module.parameters(), [{"choice": 1}])
    data = [(0, None), (1, None)]  # validation is the training set, so its scores are already known
    result = Trainer(module, data, data, counting_guide(table, runs), opt, steps=2, batch_size=2,
                     concurrency=1).fit()
    assert runs == [(0, 0), (0, 1)]  # the starting validation only: no rollout, no candidate
    assert opt.seen == [] and opt.position == 0
    for rec in result.history:
        assert not rec["accepted"] and "full marks" in rec["reason"] and "nothing was run" in rec["reason"]


def test_a_minibatch_found_solved_by_its_rollouts_asks_for_no_proposal():
    module = Lookup()
    runs: list[tuple[int, int]] = []
    table = [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    opt = ScriptedOptimizer(module.parameters(), [{"choice": 1}])
    result = Trainer(module, [(0, None), (1, None)], [(2, None)], counting_guide(table, runs), opt, steps=1,
                     batch_size=2, concurrency=1).fit()
    rec = result.history[0]
    assert sorted(runs) == [(0, 0), (0, 1), (0, 2)]  # validation, then the two rollouts
    assert opt.seen == [] and "full marks" in rec["reason"] and "nothing was run" not in rec["reason"]
