"""Parent selection favours good designs but keeps exploring; the prompt shows a bounded slice."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprose.llm import Scripted
from backprose.search import Design, MetaAgent, arithmetic, bootstrap, context_slice, select_parents
from backprose.search.selection import choose_operator, weights


def design(i: int, score: float | None) -> Design:
    d = Design(f"d{i}", f"idea {i}", f"def forward(task):\n    return '{i}'\n", id=i)
    d.fitness = bootstrap([score] * 4) if score is not None else None
    return d


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0.0, 1.0))
@settings(max_examples=50, deadline=None)
def test_weights_are_a_distribution_with_an_exploration_floor(scores, exploration):
    designs = [design(i, s) for i, s in enumerate(scores)]
    w = weights(designs, 0.1, exploration)
    assert sum(w) == pytest.approx(1.0)
    assert min(w) >= exploration / len(designs) - 1e-12
    best = max(range(len(scores)), key=lambda i: scores[i])
    assert w[best] == pytest.approx(max(w))


def test_better_designs_are_picked_more_but_weak_ones_still_get_picked():
    designs = [design(0, 0.9), design(1, 0.5), design(2, 0.1)]
    rng = random.Random(0)
    counts = Counter(select_parents(designs, 1, rng)[0].name for _ in range(3000))
    assert counts["d0"] > counts["d1"] > 0 and counts["d2"] > 0
    assert counts["d2"] / 3000 == pytest.approx(0.2 / 3, abs=0.03)  # the uniform share of exploration


def test_parents_are_distinct_evaluated_designs():
    designs = [design(0, 0.9), design(1, None), design(2, 0.3)]
    for seed in range(20):
        parents = select_parents(designs, 2, random.Random(seed))
        assert sorted(p.id for p in parents) == [0, 2]


def test_operator_falls_back_to_what_the_archive_allows():
    rng = random.Random(1)
    assert {choose_operator(rng, {"crossover": 1.0}, 1) for _ in range(10)} == {"mutate"}
    assert {choose_operator(rng, {"mutate": 1.0}, 0) for _ in range(10)} == {"novel"}
    with pytest.raises(ValueError, match="unknown operators"):
        choose_operator(rng, {"splice": 1.0}, 3)


def test_the_prompt_shows_a_bounded_slice_of_a_large_archive():
    designs = [design(i, (i % 17) / 17) for i in range(200)]
    parents = [designs[5]]
    shown, listed = context_slice(designs, parents, shown=3, listed=10)
    assert shown[0] is parents[0] and len(shown) == 4 and len(listed) == 10
    assert [d.fitness.median for d in shown[1:]] == sorted((d.fitness.median for d in shown[1:]), reverse=True)

    meta = Scripted(['{"thought": "t", "name": "n", "code": "def forward(task):\\n    return 1"}'])
    MetaAgent(meta).propose(arithmetic(4, 0), "mutate", parents, shown, listed)
    prompt = meta.prompts[0][-1]["content"]
    assert prompt.count("```python") == 4 and "(parent)" in prompt
    assert sum(f"d{i}:" in prompt for i in range(200)) <= 14
    assert len(prompt) < 6000
