"""Graph invariants over random programs (hypothesis)."""

import json

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import backprose as bp

# Each instruction names an op and three registers; an op that needs a number (or a text) takes the first
# register of that type at or after the chosen index, and is skipped when the program holds none.
NUMBER_OPS = ["add", "sub", "mul", "truediv", "floordiv", "mod", "rsub", "rfloordiv", "radd", "neg", "max",
              "branch", "blend", "route_text", "route_number", "pick"]
TEXT_OPS = ["concat", "rconcat", "upper", "mix"]
OPS = NUMBER_OPS + TEXT_OPS

initial_value = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 3)),
                          st.text(alphabet="abcXYZ -", max_size=4))
instruction = st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
program = st.tuples(st.lists(initial_value, min_size=1, max_size=5),
                    st.lists(instruction, min_size=1, max_size=25))


def _untraced(**_):
    return lambda fn: fn


def run(prog, traced):
    """Interpret a random program on plain values, or on nodes (the initial values as parameters).

    Returns the registers and, for each, the initial registers it depends on by data or through a branch
    that decided it: the oracle for which parameters backward must reach, computed without the library.
    """
    initial, instructions = prog
    regs = [bp.param(v, name=f"p{i}") if traced else v for i, v in enumerate(initial)]
    deps = [frozenset([i]) for i in range(len(initial))]
    bundle = bp.bundle if traced else _untraced

    def raw(r):
        return regs[r]._value if traced else regs[r]

    def pick(want_text, index):
        for k in range(len(regs)):
            r = (index + k) % len(regs)
            if isinstance(raw(r), str) == want_text:
                return r
        return None

    @bundle()
    def blend(x, y, z):
        return x + 2 * y - z

    @bundle()
    def mix(x, y, z):
        return f"{x}|{y}|{z}"[:16]

    for op, i, j, k in instructions:
        ia, ib, ic = (pick(op in TEXT_OPS, n) for n in (i, j, k))
        if ia is None:
            continue
        a, b, c = regs[ia], regs[ib], regs[ic]
        used = {ia, ib}
        constant = (i % 7 - 3) + (0.5 if j % 2 else 0)
        if op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = (a * b) % 97
        elif op == "truediv":
            out = a / (b * b + 1)
        elif op == "floordiv":
            out = a // (b * b + 1)
        elif op == "mod":
            out = a % (b * b + 1)
        elif op == "rsub":
            out, used = constant - a, {ia}
        elif op == "rfloordiv":
            out, used = constant // (a * a + 1), {ia}
        elif op == "radd":
            out, used = 2.5 + a, {ia}
        elif op == "neg":
            out, used = -a, {ia}
        elif op == "max":  # outside a scope a branch is plain Python: the result is one of the two nodes
            out, used = (a, {ia}) if a > b else (b, {ib})
        elif op == "branch":
            with bp.scope():
                out = c + 1 if a > b else c - 1
            used = {ia, ib, ic}
        elif op == "blend":
            out, used = blend(a, b, c), {ia, ib, ic}
        elif op in ("route_text", "route_number"):  # a traceable body returning a literal
            high, low = ("high", "low") if op == "route_text" else (1.5, -2)

            @bundle(traceable=True)
            def route(x, other=b, high=high, low=low):
                if x > other:
                    return high
                return low

            out = route(a)
        elif op == "pick":  # a traceable body returning one of its inputs unchanged
            @bundle(traceable=True)
            def choose(x, y, other=b):
                if x > other:
                    return y
                return x

            out = choose(a, c)
            used = {ia, ib, ic} if raw(ia) > raw(ib) else {ia, ib}
        elif op == "concat":
            out = (a + b)[:12]
        elif op == "rconcat":
            out, used = "x" + a, {ia}
        elif op == "upper":
            out, used = a.upper(), {ia}
        else:  # mix: an opaque bundle with three parents, a number among them when there is one
            number = pick(False, k)
            ic = number if number is not None else ic
            out, used = mix(a, b, regs[ic]), {ia, ib, ic}
        regs.append(out)
        deps.append(frozenset().union(*(deps[u] for u in used)))
    return regs, deps


def traced(prog):
    return run(prog, traced=True)[0]


@given(program)
@settings(max_examples=150, deadline=None)
def test_traced_and_untraced_programs_agree(prog):
    plain, _ = run(prog, traced=False)
    nodes = traced(prog)
    assert [(type(n.value), n.value) for n in nodes] == [(type(v), v) for v in plain]


@given(program)
@settings(max_examples=150, deadline=None)
def test_backward_reaches_exactly_the_parameters_the_output_depends_on(prog):
    """Every parameter the output depends on (by data, or through a branch that decided it) gets the feedback
    once; no other parameter, and no node outside the output's graph, gets any."""
    _, deps = run(prog, traced=False)
    nodes = traced(prog)
    params, out = nodes[: len(prog[0])], nodes[-1]
    out.backward("feedback", retain_graph=True)
    assert [len(p.feedback) for p in params] == [int(i in deps[-1]) for i in range(len(params))]
    assert {p.name for p in bp.parameters_of(out)} == {f"p{i}" for i in deps[-1]}
    order = bp.topological_order(out)
    in_graph = {id(n) for n in order}
    assert all(len(n.feedback) == 1 for n in order)
    assert all(n.feedback == [] for n in nodes if id(n) not in in_graph)


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
