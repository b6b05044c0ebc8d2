"""Search strategies: each finds the right multiplier through the same interface, and resumes its state."""

from __future__ import annotations

import pytest
from train_programs import Multiplier, triples

from backprose.errors import UnknownOptimizer
from backprose.train import ScriptedOptimizer, Trainer
from backprose.train.strategies import STRATEGIES, Pareto, make_strategy


def cycling(opt, n):
    """Proposals k = position + 2, ... so the right answer (3) comes second."""
    return [{"k": (opt.position + i) % 5 + 2} for i in range(n)]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_reaches_the_optimum(name):
    module = Multiplier(1)
    opt = ScriptedOptimizer(module.parameters(), cycling)
    result = Trainer(module, triples(6), triples(4, 30), "numeric", opt, strategy=name, steps=4,
                     batch_size=3, concurrency=1).fit()
    assert module.k.value == 3 and result.final_val == 1.0
    assert all(h["val_after"] is None or h["val_after"] >= h["val_before"] for h in result.history)


def test_best_of_n_picks_the_best_of_several_proposals():
    module = Multiplier(1)
    opt = ScriptedOptimizer(module.parameters(), [{"k": 2}, {"k": 3}, {"k": 4}])
    result = Trainer(module, triples(6), triples(4, 30), "numeric", opt, strategy=make_strategy(
        "best_of_n", n=3), steps=1, batch_size=3).fit()
    assert module.k.value == 3 and result.history[0]["proposals"] == 3


def test_pareto_front_keeps_specialists_and_drops_dominated():
    p = Pareto()
    p.pool = {"a": {"state": {}, "scores": [1, 0, 0]}, "b": {"state": {}, "scores": [0, 1, 0]},
              "c": {"state": {}, "scores": [0, 0, 0]}, "d": {"state": {}, "scores": [1, 1, 0]}}
    front = p.front()
    assert set(front) == {"d"}  # d dominates a and b; c is never best
    p.pool["e"] = {"state": {}, "scores": [0, 0, 1]}
    assert set(p.front()) == {"d", "e"}


def test_unknown_strategy_names_the_choices():
    with pytest.raises(UnknownOptimizer, match="beam, best_of_n, pareto, ucb"):
        make_strategy("genetic")
