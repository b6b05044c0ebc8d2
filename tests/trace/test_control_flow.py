"""Branching on a node inside a traceable body or a scope makes the condition a control parent."""

import backprose as bp


def test_traceable_body_shows_inner_ops_and_branch_conditions():
    threshold = bp.param(5, name="threshold")

    @bp.bundle(traceable=True)
    def route(x):
        if x > threshold:
            return x * 2
        return x + 1

    out = route(7)
    assert out.value == 14 and out.name == "mul"
    assert len(out.control) == 1 and threshold in out.control[0].parents
    assert threshold in bp.parameters_of(out)
    out.backward("too large")
    assert threshold.feedback and threshold.feedback[0].output is out


def test_parameter_that_only_steered_a_branch_receives_feedback():
    use_upper = bp.param(True, name="use_upper")
    text = bp.param("hi", name="text")
    with bp.scope():
        out = text.upper() if use_upper else text.lower()
    assert out.value == "HI" and out.parents == (text,)
    assert out.control == (use_upper,)
    out.backward("should be lowercase")
    assert len(use_upper.feedback) == 1


def test_conditions_do_not_leak_out_of_the_scope():
    flag = bp.param(True)
    with bp.scope():
        if flag:
            inside = bp.Node(1) + 1
    outside = bp.Node(1) + 1
    assert inside.control == (flag,) and outside.control == ()


def test_outside_any_scope_truth_value_is_not_recorded():
    flag = bp.param(True)
    if flag:
        out = bp.Node(1) + 1
    assert out.control == ()


def test_export_marks_control_edges():
    flag = bp.param(True, name="flag")
    with bp.scope():
        out = bp.Node(1, name="one") + 1 if flag else None
    g = bp.to_networkx(out)
    assert g.edges["flag", "add"]["control"] is True
    assert g.edges["one", "add"]["control"] is False
