"""Graph invariants over random programs (hypothesis)."""

import json

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import backprose as bp

OPS = ["add", "sub", "mul", "max", "branch"]

instruction = st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
program = st.tuples(st.lists(st.integers(-5, 5), min_size=1, max_size=4),
                    st.lists(instruction, min_size=1, max_size=25))


def run(prog, wrap):
    """Interpret a random program on raw ints, or on nodes when `wrap` makes parameters."""
    initial, instructions = prog
    regs = [wrap(v, i) for i, v in enumerate(initial)]
    for op, i, j, k in instructions:
        a, b, c = regs[i % len(regs)], regs[j % len(regs)], regs[k % len(regs)]
        if op == "add":
            regs.append(a + b)
        elif op == "sub":
            regs.append(a - b)
        elif op == "mul":
            regs.append((a * b) % 97)
        elif op == "max":
            regs.append(a if a > b else b)
        else:
            with bp.scope():
                regs.append(c + 1 if a > b else c - 1)
    return regs


def traced(prog):
    return run(prog, lambda v, i: bp.param(v, name=f"p{i}"))


@given(program)
@settings(max_examples=150, deadline=None)
def test_traced_and_untraced_programs_agree(prog):
    plain = run(prog, lambda v, i: v)
    nodes = traced(prog)
    assert [n.value for n in nodes] == plain


@given(program)
@settings(max_examples=150, deadline=None)
def test_backward_reaches_exactly_the_ancestor_parameters_once(prog):
    nodes = traced(prog)
    params = nodes[: len(prog[0])]
    out = nodes[-1]
    out.backward("feedback")
    ancestors = {id(n) for n in bp.topological_order(out)}
    for p in params:
        assert len(p.feedback) == (1 if id(p) in ancestors else 0)


@given(program)
@settings(max_examples=100, deadline=None)
def test_exported_graph_is_acyclic_and_follows_topological_order(prog):
    out = traced(prog)[-1]
    order = bp.topological_order(out)
    position = {id(n): i for i, n in enumerate(order)}
    assert all(position[id(p)] < position[id(n)] for n in order for p in n.inputs)
    graph = bp.to_networkx(out)
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == len(order)


@given(program)
@settings(max_examples=100, deadline=None)
def test_names_are_deterministic_and_unique_within_a_graph(prog):
    first = list(bp.to_networkx(traced(prog)[-1]).nodes)
    second = list(bp.to_networkx(traced(prog)[-1]).nodes)
    assert first == second and len(set(first)) == len(first)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
arrays = st.sampled_from(["float64", "float32", "int32", "int64", "bool"]).flatmap(
    lambda dtype: st.lists(st.integers(1, 3), min_size=1, max_size=3).flatmap(
        lambda shape: st.lists(
            st.booleans() if dtype == "bool" else
            st.integers(-1000, 1000) if dtype.startswith("int") else
            st.floats(-1e6, 1e6, allow_nan=False, width=32 if dtype == "float32" else 64),
            min_size=int(np.prod(shape)), max_size=int(np.prod(shape)),
        ).map(lambda flat: np.array(flat, dtype=dtype).reshape(shape))))
values = st.one_of(st.text(), st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False),
                   st.booleans(), st.dictionaries(st.text(max_size=8), json_values, max_size=4),
                   st.lists(json_values, max_size=4), arrays)


@given(st.lists(values, min_size=1, max_size=5))
@settings(max_examples=150, deadline=None)
def test_state_dict_round_trips_every_value_type_exactly(initial):
    def build(vals):
        m = bp.Module()
        m.params = [bp.param(v) for v in vals]
        return m

    source = build(initial)
    state = json.loads(json.dumps(source.state_dict()))
    target = build(initial)
    for p in target.params:  # perturb so the load has something to restore
        if p.value_type == "text":
            p.value = p.value + "x"
    target.load_state_dict(state)
    for a, b in zip(source.params, target.params, strict=True):
        if isinstance(a.value, np.ndarray):
            assert a.value.dtype == b.value.dtype and a.value.shape == b.value.shape
            assert np.array_equal(a.value, b.value)
        else:
            assert type(a.value) is type(b.value) and a.value == b.value
