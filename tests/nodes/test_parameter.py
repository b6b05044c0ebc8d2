"""Parameters validate every assignment: a bad value is refused with a reason and the old value stays."""

import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backprose as bp
from backprose.errors import InvalidUpdate
from backprose.nodes.parameter import speaks_of_itself
from backprose.optimizers.base import Optimizer, Proposal


@pytest.mark.parametrize("initial,new,expected", [
    ("a", "b", "b"),
    (1, 2.0, 2),
    (1.5, "2.5", 2.5),
    (True, "false", False),
    ({"k": 1}, '{"k": 2}', {"k": 2}),
    ([1], [1, 2], [1, 2]),
])
def test_accepted_updates_are_coerced(initial, new, expected):
    p = bp.param(initial)
    p.value = new
    assert p.value == expected and type(p.value) is type(expected)


@pytest.mark.parametrize("initial,new,reason", [
    ("a", 3, "is text"),
    (1, 2.5, "integer"),
    (1.0, float("nan"), "finite"),
    (True, "maybe", "bool"),
    ({"k": 1}, [1], "dict"),
    ({"k": 1}, "{not json", "does not parse"),
])
def test_rejected_updates_keep_the_old_value(initial, new, reason):
    p = bp.param(initial, name="p")
    with pytest.raises(bp.InvalidUpdate, match=reason):
        p.value = new
    assert p.value == initial


def test_bounds_and_projection():
    p = bp.param(0.5, bounds=(0.0, 1.0))
    with pytest.raises(bp.InvalidUpdate, match=r"\[0.0, 1.0\]"):
        p.value = 2.0
    clipped = bp.param(0.5, projection=lambda v: min(max(v, 0.0), 1.0))
    clipped.value = 7.0
    assert clipped.value == 1.0


def test_array_keeps_shape_and_dtype():
    p = bp.param(np.zeros((2, 2), dtype=np.float32))
    p.value = [[1, 2], [3, 4]]
    assert p.value.dtype == np.float32 and p.value.shape == (2, 2)
    with pytest.raises(bp.InvalidUpdate, match="shape"):
        p.value = [1, 2, 3]


def test_unsupported_value_type_says_what_to_use():
    with pytest.raises(TypeError, match="numpy array"):
        bp.param(object())


def test_module_names_unnamed_parameters_after_attributes():
    class M(bp.Module):
        def __init__(self):
            self.prompt = bp.param("hi")

    assert M().prompt.name == "prompt"


# --- one owner for a parameter's value ---------------------------------------------------------------------

PACKAGE = Path(bp.__file__).parent


def _writes_of_value(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AugAssign | ast.AnnAssign) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and sub.attr == "_value" and isinstance(sub.ctx, ast.Store):
                    lines.append(node.lineno)
    return lines


def test_only_the_node_classes_write_a_value():
    """Everything else goes through Parameter.check / Parameter.assign (or the validating `.value =`)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "nodes":
            continue
        lines = _writes_of_value(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
    assert found == {}


def test_check_loosens_validates_projects_and_refuses_an_echo():
    text = bp.param("Be brief.", name="style", description="How the reply should sound")
    assert text.check({"style": "Be warm."}) == "Be warm."
    assert text.check(7) == "7"
    with pytest.raises(InvalidUpdate, match="repeats the parameter's description"):
        text.check("how the reply should sound.")
    assert text.value == "Be brief."  # check changes nothing
    number = bp.param(1.0, name="t", bounds=(0, 2), projection=lambda v: round(v, 1))
    assert number.check(" 1.26 ") == 1.3
    with pytest.raises(InvalidUpdate, match=r"\[0, 2\]"):
        number.check("3")
    array = bp.param(np.zeros(2), name="w")
    assert np.array_equal(array.check("[1, 2]"), [1.0, 2.0])


def test_a_value_that_describes_the_parameter_is_told_apart_from_one_that_is_it():
    meta = "The new value for the parameter `instruction` should be the one that corresponds to the grader's rules."
    assert speaks_of_itself(meta, "instruction") == "the parameter"
    assert speaks_of_itself("Follow `instruction` closely.", "instruction") == "`instruction`"
    assert speaks_of_itself("Set the parameter to the answer.", "instruction") == "the parameter"
    meta = "The new instruction should specify the date format."
    assert speaks_of_itself(meta, "instruction") == "The new instruction"
    assert speaks_of_itself("The new system prompt must name the format.", "system_prompt") == "The new system prompt"
    assert speaks_of_itself("Compute the new value after each step.", "instruction") is None
    role = "the system prompt of the one model call that answers each input"
    kept = ("    The system prompt of the one model call that answers each input should be more detailed and provide "
            "examples for the user to follow.")
    assert speaks_of_itself(kept, "instruction", "Answer the logic puzzle.", role) == (
        "system prompt of the one model call that answers each input")
    assert speaks_of_itself("Answer the logic puzzle; name the one answer.", "instruction", description=role) is None
    assert speaks_of_itself("Sort the words.", "prompt", description="the prompt") is None  # too short to tell
    assert speaks_of_itself("Answer with the option's letter, then its text.", "instruction") is None
    assert speaks_of_itself("Check the parameter types first.", "prompt", old="Check the parameter.") is None


@pytest.mark.parametrize("meta, found", [  # kept by training runs on a real task, beside worked examples
    ("The system prompt should clearly specify the task that the model should generate a response for.",
     "The system prompt should"),
    ("The program should generate a set of options based on the statements in the paragraphs.", "The program should"),
    ("Be brief. The model must answer with one option.", "The model must"),
    ("The instructions need to name the format.", "The instructions need to"),
    ("The updated instruction should provide more context about the objects.", "The updated instruction"),
    ("Be brief. The revised prompt asks for one option.", "The revised prompt"),
    ("The improved system prompt must name the format.", "The improved system prompt"),
    ("The instruction should ask for the letter.", "The instruction should"),
])
def test_a_sentence_telling_the_prompt_or_model_what_it_should_do_is_about_the_value_not_the_value(meta, found):
    assert speaks_of_itself(meta, "instruction", "Answer the logic puzzle.") == found


@pytest.mark.parametrize("prompt", [
    "You are a date expert. The answer must be one of the options.",
    "Write the function. The function should handle empty lists.",
    "Read the paragraph; the model answer should be one line.",
    "Print the new list, then the updated total; the revised order must keep ties stable.",
])
def test_a_prompt_in_the_second_person_or_about_the_answer_is_not_refused(prompt):
    assert speaks_of_itself(prompt, "instruction", "Answer the question.") is None
    assert speaks_of_itself("The model should reply in JSON.", "system", "The model should reply in JSON.") is None


def test_check_refuses_a_text_that_talks_about_the_parameter_but_an_assignment_is_the_users_own():
    p = bp.param("Answer the question.", name="instruction", description="the system prompt of the one model call")
    with pytest.raises(InvalidUpdate, match=r"talks about the parameter \('The new instruction'\)"):
        p.check("The new instruction should name the date format.")
    with pytest.raises(InvalidUpdate, match="talks about the parameter"):
        p.check("Use the system prompt of the one model call to answer.")
    assert p.check("Answer the question; give the date as MM/DD/YYYY.").endswith("MM/DD/YYYY.")
    p.value = "The new instruction is yours to write."  # a user's assignment is not an optimizer's suggestion
    assert p.check("The new instruction is yours to write, and short.")  # the current value holds the words


@pytest.mark.parametrize("reply", [
    "The new value for `instructions` should be: 'Reply with only the number.'",
    "The new value of instructions should be \"Reply with only the number.\"",
    "The new value should be: 'Reply with only the number.'.",
    "the new value is 'Reply with only the number.'",
])
def test_check_takes_the_value_a_small_model_quoted_in_a_sentence_about_it(reply, caplog):
    """Small models often answer "The new value should be: '...'": the quoted text is the value meant."""
    text = bp.param("Solve it.", name="instructions")
    with caplog.at_level("INFO", logger="backprose"):
        assert text.check(reply) == "Reply with only the number."
    assert "quoted" in caplog.text


@pytest.mark.parametrize("value", [
    "Reply with only the number.",
    "The new value should include a clear instruction, such as 'Solve it.'",  # a description: left as it is
    "Say 'hello' and then 'bye'",
])
def test_check_leaves_other_quotes_alone(value):
    assert bp.param("Solve it.", name="instructions").check(value) == value


def _spaced(a, b):
    return a + b


def test_a_projection_on_code_is_checked_again():
    """The projected source must still be the same function: a projection that breaks it is refused."""
    code = bp.CodeParameter(_spaced)
    code.projection = lambda src: src.replace("def _spaced(a, b)", "def _spaced(a)")
    with pytest.raises(InvalidUpdate, match="signature"):
        code.check("def _spaced(a, b):\n    return a - b\n")


def test_a_refused_projection_leaves_the_value_after_an_optimizer_step():
    p = bp.param("calm", name="tone", projection=lambda v: v if v.islower() else 1 / 0)
    opt = Optimizer([p])
    update = opt.apply(Proposal({p: "LOUD"}))
    assert p.value == "calm" and not update.changed
    assert "the projection rejected the value" in update.rejected[0].reason


def _valid(p, value) -> bool:
    try:
        same = p.validate(value)
    except InvalidUpdate:
        return False
    return bool(np.array_equal(same, value)) if isinstance(value, np.ndarray) else same == value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
replies = json_values | json_values.map(json.dumps) | st.sampled_from([
    "```python\ndef _spaced(a, b):\n    return a * b\n```", "def _spaced(a):\n    return a\n", "def _spaced(a, b):\n (",
    "[1.0, 2.0]", "[1, 2, 3]", "[0.5, 99]", " 4 ", "1e400", "nan", "true", '{"k": 1}', "[1]"])


def _kinds():
    return [
        bp.param("Be brief.", name="text", description="the instructions"),
        bp.param(3, name="count", bounds=(0, 10)),
        bp.param(0.5, name="rate", bounds=(0.0, 1.0)),
        bp.param(np.zeros(2), name="weights", bounds=(-1, 1)),
        bp.param(True, name="flag"),
        bp.param({"k": 1}, name="config"),
        bp.param(["a"], name="items"),
        bp.CodeParameter(_spaced),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=replies)
def test_a_bad_reply_never_corrupts_a_parameter(raw):
    """Whatever a model replies, each kind of parameter keeps its old value or takes a valid one."""
    params = _kinds()
    before = [p._value.copy() if isinstance(p._value, np.ndarray) else p._value for p in params]
    update = Optimizer(params).apply(Proposal({p: raw for p in params}))
    for p, old in zip(params, before, strict=True):
        value = p._value
        if isinstance(old, np.ndarray):
            unchanged = np.array_equal(value, old)
        else:
            unchanged = value == old and type(value) is type(old)
        assert unchanged or _valid(p, value), (p.name, raw, value)
        if not unchanged:
            assert p.name in [c.name for c in update.accepted]
    low, high = params[3].bounds
    assert np.all(params[3]._value >= low) and np.all(params[3]._value <= high)
    assert 0 <= params[1]._value <= 10 and isinstance(params[1]._value, int)


def test_update_revert_restores_through_the_one_write():
    code = bp.CodeParameter(_spaced)
    opt = Optimizer([code])
    update = opt.apply(Proposal({code: "def _spaced(a, b):\n    return a * b\n"}))
    assert update.changed and code.origin == "optimized"
    update.revert()
    assert code.origin == "user" and code.value == code.user_source


# --- where a value left the graph ------------------------------------------------------------------------------


def _line(offset: int = 0) -> str:
    frame = inspect.currentframe().f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno + offset}"


def test_str_fstring_format_and_value_record_where_the_value_left_the_graph():
    p = bp.param("Be brief.", name="system")
    here = _line(1)
    f"{p}: question"  # noqa: B018
    assert p.escapes == [f"{here} (an f-string or .format)"]
    here = _line(1)
    str(p)
    here2 = _line(1)
    f"{p} q"
    here3 = _line(1)
    p.value  # noqa: B018
    assert p.escapes == [f"{here} (str())", f"{here2} (an f-string or .format)", f"{here3} (a read of .value)"]
    p.zero_feedback()
    assert p.escapes == []


def test_no_escape_is_recorded_without_tracing_or_inside_a_bundle():
    p = bp.param("Be brief.", name="system")
    with bp.no_trace():
        f"{p}"  # noqa: B018
        str(p)

    @bp.bundle()
    def ask(q):
        return f"{p.value} {q}"  # a read inside a bundle becomes an edge, not an escape

    out = ask("hi")
    assert p.escapes == [] and out.value == "Be brief. hi"
