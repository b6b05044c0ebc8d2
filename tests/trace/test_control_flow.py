"""Branching on a node inside a traceable body or a scope makes the condition a control parent."""

import asyncio

import backprose as bp
from backprose.trace.graph import shape


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


def threshold_router():
    """The issue's example: a branch that returns a literal, steered only by a trainable threshold."""
    threshold = bp.param(0.5, name="threshold")

    @bp.bundle(traceable=True)
    def route(u):
        if u > threshold:
            return "escalate"
        return "reply"

    return threshold, route


def test_a_branch_returning_a_literal_keeps_the_condition_that_chose_it():
    threshold, route = threshold_router()

    out = route(0.7)
    assert out.value == "escalate" and out.name == "route"
    assert threshold in bp.parameters_of(out)
    out.backward("wrong route")
    assert [f.user_feedback for f in threshold.feedback] == ["wrong route"]


def test_a_branch_returning_a_new_node_an_input_or_a_container_keeps_its_condition():
    threshold = bp.param(0.5, name="threshold")
    other = bp.param("other", name="other")

    @bp.bundle(traceable=True)
    def new_node(u):
        return bp.Node("high") if u > threshold else bp.Node("low")

    @bp.bundle(traceable=True)
    def same_input(u, text):
        if u > threshold:
            return text
        return other

    @bp.bundle(traceable=True)
    def container(u, text):
        if u > threshold:
            return [text, "high"]
        return {"label": "low"}

    @bp.bundle(traceable=True)
    def computed_before_the_test(u):
        doubled = u * 2
        if doubled > threshold:
            return doubled
        return u

    text = bp.param("t", name="text")
    outs = [new_node(0.7), same_input(0.7, text), container(0.7, text), container(0.1, text),
            computed_before_the_test(0.4)]
    assert [o.value for o in outs] == ["high", "t", ["t", "high"], {"label": "low"}, 0.8]
    assert text.control == () and text in bp.parameters_of(outs[1]) and text in bp.parameters_of(outs[2])
    for out in outs:
        assert threshold in bp.parameters_of(out), out
    bp.backward(outs, [f"fb{i}" for i in range(len(outs))])
    assert [f.user_feedback for f in threshold.feedback] == [f"fb{i}" for i in range(len(outs))]
    # a literal result stands for the whole call, so its inputs are parents too (as for an opaque bundle)
    assert [f.user_feedback for f in text.feedback] == ["fb1", "fb2", "fb3"]


def test_a_node_made_inside_a_scope_depends_on_the_conditions_before_it():
    threshold = bp.param(0.5, name="threshold")
    u = bp.Node(0.7, name="u")
    with bp.scope():
        out = bp.node("escalate") if u > threshold else bp.node("reply")
    assert out.value == "escalate" and threshold in bp.parameters_of(out)
    out.backward("wrong route")
    assert len(threshold.feedback) == 1
    with bp.scope(), bp.no_trace():
        assert (bp.Node(1) if u > threshold else bp.Node(0)).control == ()
    kept = bp.param("p")
    with bp.scope():
        if u > threshold:
            made = bp.param("made inside")
    assert made.control == () and kept.control == ()  # a parameter is a leaf wherever it is declared


def test_sync_and_async_traceable_bundles_record_the_same_condition():
    threshold = bp.param(0.5, name="threshold")

    @bp.bundle(traceable=True)
    def route(u):
        return "escalate" if u > threshold else "reply"

    @bp.bundle(traceable=True, name="route")
    async def aroute(u):
        await asyncio.sleep(0)
        return "escalate" if u > threshold else "reply"

    sync_out, async_out = route(0.7), asyncio.run(aroute(0.7))
    assert shape(sync_out) == shape(async_out)
    assert threshold in bp.parameters_of(async_out)


def test_a_traceable_body_and_its_result_share_the_nodes_made_for_plain_arguments():
    threshold = bp.param(0.5, name="threshold")
    a, b = bp.param("a", name="a"), bp.param("b", name="b")

    @bp.bundle(traceable=True)
    def route(u, items, label="x"):
        if u > threshold:
            return "escalate"
        return items

    out = route(0.7, [a, b], label="y")
    condition = out.control[0]
    u = next(p for p in out.parents if p.name == "u")
    assert any(p is u for p in condition.parents)  # one node for `u`, not one per use
    assert [p.name for p in out.parents] == ["u", "a", "b", "label"]
    assert route(0.1, [a, b]).value == ["a", "b"]


def test_an_optimizer_reads_which_condition_chose_a_literal_and_updates_the_threshold():
    from backprose.llm import Scripted

    threshold, route = threshold_router()

    route(0.7).backward("wrong route: 0.7 should get a reply")
    llm = Scripted(['{"reasoning": "raise it", "suggestion": {"threshold": 0.8}}'])
    bp.optimizers.OptoPrime([threshold], llm=llm).step()
    prompt = llm.prompts[0][-1]["content"]
    assert "route = route(u)  # runs because of" in prompt and "wrong route" in prompt
    assert threshold.value == 0.8 and route(0.7).value == "reply"
