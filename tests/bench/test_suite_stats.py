"""The suite's statistics: bootstrap intervals on known data, and a table that says only what they show."""

import numpy as np
import pytest

from bench.suite.stats import bootstrap_interval, paired, rows, table


def test_identical_scores_give_an_interval_of_that_one_value():
    assert bootstrap_interval([[1.0] * 30, [1.0] * 50]) == (1.0, 1.0, 1.0)
    assert bootstrap_interval([[0.0] * 10]) == (0.0, 0.0, 0.0)


def test_one_seed_matches_the_normal_approximation_of_a_proportion():
    scores = [1.0] * 200 + [0.0] * 200
    mean, low, high = bootstrap_interval([scores])
    half = 1.96 * np.sqrt(0.25 / 400)
    assert mean == 0.5
    assert low == pytest.approx(0.5 - half, abs=0.006) and high == pytest.approx(0.5 + half, abs=0.006)


def test_one_seed_matches_scipys_percentile_bootstrap():
    stats = pytest.importorskip("scipy.stats")
    data = np.random.default_rng(1).random(60).round(1)
    ref = stats.bootstrap((data,), np.mean, n_resamples=20000, method="percentile", random_state=0).confidence_interval
    _, low, high = bootstrap_interval([data.tolist()], resamples=20000)
    assert low == pytest.approx(ref.low, abs=0.01) and high == pytest.approx(ref.high, abs=0.01)


def test_the_mean_weighs_each_seed_equally_and_seeds_that_disagree_widen_the_interval():
    agree = [[1.0] * 25 + [0.0] * 25, [1.0] * 25 + [0.0] * 25]
    disagree = [[1.0] * 45 + [0.0] * 5, [1.0] * 5 + [0.0] * 45]
    pooled = [[1.0] * 50 + [0.0] * 50]  # the same 100 items as one seed
    assert bootstrap_interval([[1.0] * 10, [0.0] * 90])[0] == 0.5
    _, lo_a, hi_a = bootstrap_interval(agree)
    _, lo_d, hi_d = bootstrap_interval(disagree)
    _, lo_p, hi_p = bootstrap_interval(pooled)
    assert hi_d - lo_d > 3 * (hi_a - lo_a)
    assert hi_a - lo_a == pytest.approx(hi_p - lo_p, abs=0.03)


def test_the_interval_is_the_same_every_time():
    data = [[float(i % 3 == 0) for i in range(50)], [float(i % 2) for i in range(50)]]
    assert bootstrap_interval(data) == bootstrap_interval(data)
    with pytest.raises(ValueError):
        bootstrap_interval([[]])


def cell(system, seed, scores, *, program=10, optimizer=2, task="navigate", over=False, status="done"):
    return {"task": task, "seed": seed, "system": system, "status": status, "commit": "abc1234", "over_budget": over,
            "test": [{"score": s} for s in scores], "validation_accuracy": 0.5,
            "fit": {"program": {"calls": program, "cache_hits": 1, "temperatures_sent": [0.0]},
                    "optimizer": {"calls": optimizer, "cache_hits": 0, "temperatures_sent": [None]}}}


CONFIG = {"command": "python -m bench.suite --quick", "commit": "abc1234", "date": "2026-12-01",
          "budgets": {"program_calls": 60, "optimizer_calls": 6}, "temperatures": {"program": 0.0, "optimizer": 0.7},
          "test_sizes": {"navigate": 50}, "program_model": "small", "optimizer_model": "large"}


def test_the_table_carries_the_command_commit_budgets_temperatures_and_date():
    text = table([cell("baseline", 0, [0.0, 1.0])], CONFIG)
    for part in ("`python -m bench.suite --quick`", "abc1234", "60 program calls", "6 optimizer calls",
                 "program 0.0, optimizer 0.7", "2026-12-01"):
        assert part in text


def test_the_table_gives_the_test_items_each_task_was_scored_on_not_the_size_asked_for():
    cells = [cell("a", 0, [1.0] * 51, task="logical_deduction"), cell("b", 0, [0.0] * 51, task="logical_deduction"),
             cell("a", 0, [1.0] * 50)]
    text = table(cells, CONFIG | {"test_sizes": {"logical_deduction": 50, "navigate": 50}})
    assert "test items scored per seed: {'logical_deduction': 51, 'navigate': 50}" in text
    mixed = table([cell("a", 0, [1.0] * 49), cell("a", 1, [1.0] * 50)], CONFIG)
    assert "{'navigate': [49, 50]}" in mixed


def test_rows_average_calls_over_seeds_and_mark_an_exceeded_budget():
    cells = [cell("a", 0, [1.0] * 10, program=10), cell("a", 1, [1.0] * 10, program=20, over=True),
             cell("b", 0, [0.0] * 10), cell("c", 0, [], status="failed")]
    found = {r.system: r for r in rows(cells)}
    assert (found["a"].program_calls, found["a"].optimizer_calls, found["a"].over_budget) == (15, 2, True)
    assert found["c"].failed == 1 and not found["c"].seeds
    text = table(cells, CONFIG)
    assert "| navigate | a ⚠ | 2 | 1.000 | [1.000, 1.000] |" in text
    assert "| navigate | c | 0 (1 failed) | failed |" in text
    assert "0; none |" in text  # the optimizer client sent no temperature


def test_the_note_names_only_intervals_that_lie_apart():
    high, low = [1.0] * 45 + [0.0] * 5, [1.0] * 5 + [0.0] * 45
    middle = [1.0] * 26 + [0.0] * 24
    text = table([cell("a", 0, high), cell("b", 0, low), cell("c", 0, middle)], CONFIG)
    assert "intervals apart: a above b, a above c, c above b; all other pairs overlap" in text
    close = table([cell("a", 0, middle), cell("b", 0, middle[::-1] + [0.0])], CONFIG)
    assert "all intervals overlap" in close and "above" not in close


def test_the_paired_difference_separates_systems_whose_own_intervals_overlap():
    ids = [f"q{i}" for i in range(50)]

    def scored(system, right):
        c = cell(system, 0, [])
        c["test"] = [{"id": q, "score": float(n < right)} for n, q in enumerate(ids)]
        return c

    ours, peer = scored("backprose", 30), scored("peer", 25)  # the peer solves a subset of what backprose does
    peer["test"].reverse()  # items are matched by id, not by position
    found = {r.system: r for r in rows([ours, peer])}
    assert found["backprose"].low < found["peer"].high  # the separate intervals overlap
    mean, low, high = paired([ours, peer], "navigate", "backprose", "peer")
    assert mean == pytest.approx(0.1) and low > 0
    text = table([ours, peer], CONFIG)
    assert "backprose minus peer on the same test items: +0.100" in text and "(backprose above peer)" in text
    assert paired([ours, peer], "navigate", "backprose", "absent") is None


def test_a_paired_difference_that_holds_zero_says_so():
    ours = cell("backprose", 0, [1.0, 0.0] * 20)
    peer = cell("peer", 0, [0.0, 1.0] * 20)
    assert "(backprose not apart from peer)" in table([ours, peer], CONFIG)


def test_each_row_shows_every_seeds_own_test_accuracy_in_seed_order():
    cells = [cell("a", 1, [1.0, 1.0, 0.0, 0.0]), cell("a", 0, [1.0, 0.0, 0.0, 0.0]), cell("a", 2, [1.0] * 4)]
    [row] = rows(cells)
    assert row.seeds == [0, 1, 2] and row.per_seed == [0.25, 0.5, 1.0]
    assert "| navigate | a | 3 | 0.583 | " in table(cells, CONFIG)
    assert "| 0.25 / 0.50 / 1.00 | 0.500 |" in table(cells, CONFIG)
