"""Small optimization problems with programmatic feedback, shared by the optimizer and cross-framework
benchmarks. Each is framework-neutral: an initial value, a forward function (the op being optimized
through) and an evaluator giving a score in [0, 1] and a feedback text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Ask = Callable[[str, str], str]  # (system, user) -> reply text, for problems that call a model


@dataclass(frozen=True)
class Problem:
    name: str
    initial: str | float
    description: str  # what the trainable value is, for the optimizer
    forward_doc: str
    forward: Callable[[Any, Ask], str]
    evaluate: Callable[[str], tuple[float, str]]


# --- a numeric target with "too high / too low" feedback ----------------------------------------------------
TARGET = 37


def _number_forward(value: Any, ask: Ask) -> str:
    return str(value)


def _number_evaluate(output: str) -> tuple[float, str]:
    try:
        v = float(output)
    except ValueError:
        return 0.0, f"{output!r} is not a number."
    if v == TARGET:
        return 1.0, "Correct."
    score = max(0.0, 1 - abs(v - TARGET) / TARGET)
    return score, ("The number is too high." if v > TARGET else "The number is too low.")


NUMERIC = Problem("numeric_target", 5.0, "a number to guess", "Report the guessed number.", _number_forward,
                  _number_evaluate)


# --- a prompt that must make the model answer in an exact format --------------------------------------------
QUESTION = "Name three fruits."
_FORMAT = re.compile(r"^[a-z]+, [a-z]+, [a-z]+$")


def _format_forward(prompt: Any, ask: Ask) -> str:
    return ask(str(prompt), QUESTION).strip()


def _format_evaluate(output: str) -> tuple[float, str]:
    if _FORMAT.match(output):
        return 1.0, "Correct format."
    problems = []
    if "\n" in output:
        problems.append("it spans several lines")
    words = [w for w in re.split(r"[,\s]+", output) if w]
    if len(words) != 3:
        problems.append(f"it has {len(words)} words instead of exactly 3")
    if output != output.lower():
        problems.append("it is not all lowercase")
    if not problems:
        problems.append("the words must be separated by ', ' with nothing else")
    return 0.5 if len(words) == 3 else 0.0, ("The answer must be exactly three lowercase words separated by "
                                             "', ' (like 'apple, pear, plum'), but " + "; ".join(problems) + ".")


FORMAT = Problem("format_compliance", "You are a helpful assistant.", "the system prompt of the model",
                 f"Ask the model {QUESTION!r} with the system prompt.", _format_forward, _format_evaluate)


# --- a function that must pass given unit tests --------------------------------------------------------------
TESTS = [("racecar", True), ("Racecar", True), ("hello", False), ("A man a plan a canal Panama", True), ("", True)]
CODE = "def is_palindrome(s):\n    return s == s[::-1]\n"


def _code_forward(source: Any, ask: Ask) -> str:
    scope: dict[str, Any] = {}
    try:
        exec(str(source), scope)
        fn = scope["is_palindrome"]
    except Exception as exc:  # the optimizer may write broken code; that is feedback, not a crash
        return f"error: {type(exc).__name__}: {exc}"
    lines = []
    for arg, expected in TESTS:
        try:
            got = fn(arg)
        except Exception as exc:
            got = f"{type(exc).__name__}: {exc}"
        lines.append(f"is_palindrome({arg!r}) -> {got!r}, expected {expected!r}")
    return "\n".join(lines)


def _code_evaluate(output: str) -> tuple[float, str]:
    if output.startswith("error:"):
        return 0.0, f"The code does not run: {output[7:]}"
    rows = output.splitlines()
    failed = [r for r in rows if r.split(" -> ")[1].split(",")[0] != r.rsplit("expected ", 1)[1]]
    if not failed:
        return 1.0, "All tests pass."
    return 1 - len(failed) / len(rows), ("Failing tests (ignore case and non-letters): " + "; ".join(failed))


CODE_TESTS = Problem("unit_tests", CODE, "the source of is_palindrome(s); keep the name and signature",
                     "Run the unit tests on the function's source.", _code_forward, _code_evaluate)

PROBLEMS = [NUMERIC, FORMAT, CODE_TESTS]
