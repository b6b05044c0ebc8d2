"""Bootstrap intervals: ordered, inside the data's range, exact on constant data, right on known data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprose.search import Fitness, bootstrap

scores = st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0, 1), min_size=1, max_size=60)


@given(scores)
@settings(max_examples=60, deadline=None)
def test_interval_is_ordered_and_inside_the_data(values):
    f = bootstrap(values, resamples=300)
    assert min(values) - 1e-12 <= f.low <= f.median <= f.high <= max(values) + 1e-12
    assert f.n == len(values)
    assert f.mean == pytest.approx(float(np.mean(values)))


@given(st.floats(0, 1), st.integers(1, 50))
@settings(max_examples=40, deadline=None)
def test_constant_scores_have_no_spread(value, n):
    f = bootstrap([value] * n, resamples=200)
    assert f.low == f.median == f.high == pytest.approx(value)


@given(st.integers(30, 200), st.floats(0.2, 0.8))
@settings(max_examples=20, deadline=None)
def test_interval_matches_the_normal_approximation_for_accuracies(n, p):
    k = round(n * p)
    values = [1.0] * k + [0.0] * (n - k)
    f = bootstrap(values, resamples=4000, seed=3)
    acc = k / n
    half = 1.96 * (acc * (1 - acc) / n) ** 0.5
    assert f.median == pytest.approx(acc, abs=0.5 / n + 0.01)
    assert f.low == pytest.approx(acc - half, abs=0.25 * half + 1.0 / n)
    assert f.high == pytest.approx(acc + half, abs=0.25 * half + 1.0 / n)


def test_known_data_and_the_printed_form():
    f = bootstrap([1.0] * 50 + [0.0] * 50, resamples=5000, seed=0)
    assert (f.low, f.median, f.high) == pytest.approx((0.40, 0.50, 0.60), abs=0.015)
    assert str(f).startswith("50.0% (") and str(f).count("%") == 3


def test_same_seed_same_interval_and_roundtrip():
    values = [1, 0, 1, 1, 0, 1, 0, 1]
    assert bootstrap(values, seed=5) == bootstrap(values, seed=5)
    f = bootstrap(values)
    assert Fitness.from_dict(f.as_dict()) == f


def test_bad_arguments_and_empty_input():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap([1.0], confidence=1.5)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap([1.0], resamples=0)
    assert bootstrap([]).n == 0
