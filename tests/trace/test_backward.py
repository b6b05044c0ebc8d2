"""Backward: every ancestor gets the feedback once, minibatches share one walk, graphs release like PyTorch."""

import pytest

import backprose as bp


def _chain(n, start):
    x = start
    for _ in range(n):
        x = x + 1
    return x


def test_feedback_reaches_every_ancestor_once_even_through_diamonds():
    a = bp.param(1, name="a")
    b = a + 1
    c = a * 2
    out = b + c
    out.backward("too small", retain_graph=True)
    for node in (a, b, c, out):
        assert len(node.feedback) == 1 and node.feedback[0].text == "too small"
    assert a.feedback[0].output is out


def test_minibatch_accumulates_one_record_per_output():
    w = bp.param(2, name="w")
    outs = [w * i for i in range(3)]
    bp.backward(outs, ["fb0", "fb1", "fb2"])
    assert [f.user_feedback for f in w.feedback] == ["fb0", "fb1", "fb2"]
    assert [f.output for f in w.feedback] == outs


def test_second_backward_through_a_released_graph_is_refused():
    a = bp.param(1)
    mid = a + 1
    out1, out2 = mid * 2, mid * 3
    out1.backward("first")
    with pytest.raises(bp.GraphError, match="retain_graph=True"):
        out2.backward("second")
    assert mid.feedback == ()  # released messages read as empty


def test_retain_graph_allows_repeated_backward_and_keeps_intermediate_feedback():
    a = bp.param(1)
    mid = a + 1
    out = mid * 2
    out.backward("one", retain_graph=True)
    out.backward("two", retain_graph=True)
    assert [f.text for f in mid.feedback] == ["one", "two"]
    assert [f.text for f in a.feedback] == ["one", "two"]


def test_feedback_count_must_match_outputs():
    a = bp.param(1)
    with pytest.raises(ValueError, match="one per output"):
        bp.backward([a + 1, a + 2], ["only one"])


def test_deep_chain_does_not_hit_the_recursion_limit():
    a = bp.param(0, name="a")
    out = _chain(20_000, a)
    out.backward("deep")
    assert out.value == 20_000 and len(a.feedback) == 1


def test_minimal_subgraph_links_parameters_to_outputs_only():
    p = bp.param(1, name="p")
    unrelated = bp.Node(5, name="unrelated")
    side = unrelated * 2
    mid = p + 1
    out = mid + side
    sub = bp.minimal_subgraph([p], out)
    assert [n.name for n in sub] == ["p", "add", "add"]
    assert all(n is not side and n is not unrelated for n in sub)


def test_custom_propagator_writes_text_per_edge():
    from backprose.trace import Feedback

    class Echo:
        def start(self, output, text):
            return Feedback(text, output, text)

        def propagate(self, node, received):
            return [[Feedback(f"{r.text} <- {node.name}", r.output, r.user_feedback, node) for r in received]
                    for _ in node.inputs]

    a = bp.param(1, name="a")
    out = (a + 1) * 2
    out.backward("fb", propagator=Echo())
    assert a.feedback[0].text == "fb <- mul <- add"
    assert a.feedback[0].sender.name == "add"


def test_zero_feedback_clears_and_frees_the_graph_reference():
    import gc
    import weakref

    a = bp.param(1)
    out = a + 1
    ref = weakref.ref(out)
    out.backward("x")
    del out
    gc.collect()
    assert ref() is not None  # the feedback record keeps the graph alive for the optimizer
    a.zero_feedback()
    gc.collect()
    assert ref() is None


def test_every_input_of_an_op_with_many_parents_receives_the_feedback():
    ps = [bp.param(f"p{i}", name=f"p{i}") for i in range(5)]

    @bp.bundle()
    def join(a, b, c, d, e):
        return "-".join((a, b, c, d, e))

    flag = bp.param(True, name="flag")
    with bp.scope():
        if flag:
            steered = ps[0] + ps[1]  # two data parents and a control parent: three inputs
    out = join(*ps)
    assert len(out.parents) == 5 and len(steered.inputs) == 3
    bp.backward([out, steered], ["join fb", "steered fb"])
    assert [[f.user_feedback for f in p.feedback] for p in ps] == [
        ["join fb", "steered fb"], ["join fb", "steered fb"], ["join fb"], ["join fb"], ["join fb"]]
    assert [f.user_feedback for f in flag.feedback] == ["steered fb"]
