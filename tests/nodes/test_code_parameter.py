"""Code parameters accept only code that parses, keeps the name and signature, and compiles."""

import pytest

import backprose as bp


@bp.bundle(trainable=True)
def double(x, scale=2):
    """Multiply x by scale."""
    return x * scale


def test_code_is_a_parameter_with_the_source():
    assert isinstance(double.code, bp.CodeParameter)
    assert double.code.value.startswith("def double(x, scale=2):")
    assert "@bp.bundle" not in double.code.value
    assert double.code.description == "Multiply x by scale."


@pytest.mark.parametrize("source,reason", [
    ("def double(x, scale=2)\n    return x", "does not parse"),
    ("def triple(x, scale=2):\n    return x", "must define `def double"),
    ("def double(x):\n    return x", "signature"),
    ("def double(x, scale=2):\n    return x\nx = (yield)", "compile|parse"),
    (42, "is code"),
])
def test_bad_code_is_refused_and_the_old_code_stays(source, reason):
    before = double.code.value
    with pytest.raises(bp.InvalidUpdate, match=reason):
        double.code.value = source
    assert double.code.value == before and double.code.origin == "user"


def test_restoring_the_user_source_marks_it_as_user_code():
    code = double.code
    original = code.value
    code.value = "def double(x, scale=2):\n    return x * scale * 1\n"
    assert code.origin == "optimized"
    code.value = original
    assert code.origin == "user"
