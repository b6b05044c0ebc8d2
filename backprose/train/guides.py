"""Guides judge one output against its example: a score in [0, 1] and feedback text for backward.

A guide is any callable `guide(output, example) -> Judgement | float | (score, feedback)`; `as_guide`
normalizes it and hands it the output's plain value (a str, number, dict...), never a graph `Node`, so what
a guide writes into its feedback is the value itself. The named metrics below are what the CLI's
`--metric NAME` picks from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backprose.data.dataset import Example
from backprose.errors import UnknownMetric
from backprose.nodes.node import Node


@dataclass(frozen=True)
class Judgement:
    """A guide's verdict on one output: `score` (higher is better) and `feedback` for the optimizer."""

    score: float
    feedback: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "feedback": self.feedback}


Guide = Callable[[Any, Example], Any]


def as_guide(guide: Guide | str) -> Callable[[Any, Example], Judgement]:
    """A guide that always returns a Judgement, from a metric name or any user function."""
    fn = metric(guide) if isinstance(guide, str) else guide

    def judge(output: Any, example: Example) -> Judgement:
        return to_judgement(fn(plain(output), example))

    judge.__name__ = getattr(fn, "__name__", "guide")
    return judge


def plain(output: Any) -> Any:
    """The value of `output` with every node inside lists, tuples and dicts replaced by its value."""
    if isinstance(output, Node):
        return plain(output._value)
    if isinstance(output, list | tuple):
        return type(output)(plain(v) for v in output) if type(output) in (list, tuple) else output
    if isinstance(output, dict):
        return {k: plain(v) for k, v in output.items()}
    return output


def to_judgement(result: Any) -> Judgement:
    if isinstance(result, Judgement):
        judgement = result
    elif isinstance(result, bool | int | float):
        score = float(result)
        judgement = Judgement(score, "correct" if score >= 1 else f"score {score:.3g}; improve the output")
    elif isinstance(result, tuple) and len(result) == 2:
        judgement = Judgement(float(result[0]), str(result[1]))
    else:
        raise TypeError(f"a guide returned {type(result).__name__}; return a number, (score, feedback) or "
                        "bp.train.Judgement(score, feedback)")
    if not 0.0 <= judgement.score <= 1.0:  # also refuses NaN; the trainer's early rejection relies on it
        raise ValueError(f"a guide returned the score {judgement.score!r}, outside [0, 1]; scale it into that "
                         "range (e.g. divide by the largest possible score)")
    return judgement


def _text(output: Any) -> str:
    value = getattr(output, "value", output)
    return "" if value is None else str(value)


def exact_match(output: Any, example: Example) -> Judgement:
    """1 when the output, stripped, equals the target exactly; the feedback shows both."""
    got, want = _text(output).strip(), str(example.target).strip()
    if got == want:
        return Judgement(1.0, "Correct.")
    return Judgement(0.0, f"Wrong: the output must be exactly {want!r} and nothing else, but it was {got!r}.")


def normalized_match(output: Any, example: Example) -> Judgement:
    """Exact match after lowercasing and dropping punctuation and extra spaces."""
    def norm(s: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())

    got, want = _text(output), str(example.target)
    if norm(got) == norm(want):
        return Judgement(1.0, "Correct.")
    return Judgement(0.0, f"Wrong: expected {want!r}, got {got.strip()!r}.")


_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def numeric(output: Any, example: Example, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9,
            strict: bool = True) -> Judgement:
    """Compare numbers. `strict`: the whole output must be one number; else the last number in it counts."""
    got, want = _text(output).strip(), float(str(example.target).replace(",", ""))
    if strict:
        value = _parse_number(got)
        if value is None:
            return Judgement(0.0, f"Wrong format: the output must be only the number {_fmt(want)}, with no "
                                  f"words or units, but it was {got!r}.")
    else:
        found = _NUMBER.findall(got)
        if not found:
            return Judgement(0.0, f"No number in the output {got!r}; the answer is {_fmt(want)}.")
        value = float(found[-1].replace(",", ""))
    if math.isclose(value, want, rel_tol=rel_tol, abs_tol=abs_tol):
        return Judgement(1.0, "Correct.")
    return Judgement(0.0, f"Wrong number: expected {_fmt(want)}, got {_fmt(value)}.")


def numeric_loose(output: Any, example: Example) -> Judgement:
    """`numeric` that reads the last number anywhere in the output."""
    return numeric(output, example, strict=False)


def _parse_number(text: str) -> float | None:
    text = text.strip().rstrip(".")
    if _NUMBER.fullmatch(text):
        return float(text.replace(",", ""))
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def regex(pattern: str, flags: int = 0) -> Callable[[Any, Example], Judgement]:
    """A guide that scores 1 when the whole output matches `pattern`."""
    compiled = re.compile(pattern, flags)

    def guide(output: Any, example: Example) -> Judgement:
        got = _text(output).strip()
        if compiled.fullmatch(got):
            return Judgement(1.0, "Correct format.")
        return Judgement(0.0, f"The output {got!r} does not match the required format /{pattern}/.")

    guide.__name__ = "regex"
    return guide


def target_regex(output: Any, example: Example) -> Judgement:
    """The example's target is a regular expression the whole output must match."""
    return regex(str(example.target))(output, example)


def unit_tests(tests: Sequence[Callable[[Any], Any]] | None = None, *,
               limits: Any = None) -> Callable[[Any, Example], Judgement]:
    """A guide that runs test functions on the output: the score is the fraction that pass.

    Without `tests`, the example's target must be a list of Python expressions over `output` (e.g.
    `"output.startswith('A')"`). Dataset text is never evaluated in this process: the expressions run in
    the default sandbox under `limits` (default 5 s), with only a few builtins (`len`, `sorted`, `sum`, ...).
    """
    from backprose.isolation import Limits

    limits = limits or Limits(wall_time=5.0)

    def guide(output: Any, example: Example) -> Judgement:
        value = getattr(output, "value", output)
        checks: list[tuple[str, Callable[[Any], Any]]] = []
        if tests is not None:
            checks = [(getattr(t, "__name__", f"test {i}"), t) for i, t in enumerate(tests)]
        else:
            checks = _target_checks(value, [str(e) for e in list(example.target or [])], limits)
        failures = []
        for name, check in checks:
            try:
                ok = check(value)
            except Exception as exc:  # a failing test is a result, not an error
                ok, name = False, f"{name} raised {type(exc).__name__}: {exc}"
            if ok is False or (ok is not None and not ok):
                failures.append(name)
        if not checks:
            return Judgement(1.0, "No tests.")
        score = 1 - len(failures) / len(checks)
        return Judgement(score, "All tests pass." if not failures else "Failed: " + "; ".join(failures))

    guide.__name__ = "unit_tests"
    return guide


# Runs in a sandbox worker: checks written in the dataset are text from outside, so they are never
# evaluated in the trainer's process (a restricted `eval` there is escapable).
# Names starting with "_" are refused too, which closes the usual escapes (`().__class__.__base__...`).
_TARGET_CHECKS = """
import ast, builtins

def run_checks(output, expressions):
    allowed = {name: getattr(builtins, name) for name in BUILTINS}
    results = []
    for expr in expressions:
        try:
            tree = ast.parse(expr, mode="eval")
            for node in ast.walk(tree):
                name = getattr(node, "attr", None) or getattr(node, "id", None) or getattr(node, "arg", None)
                if isinstance(name, str) and name.startswith("_") and name != "_":
                    raise NameError(f"names starting with '_' are not allowed in a check ({name})")
            held = eval(compile(tree, "<check>", "eval"), {"__builtins__": allowed}, {"output": output})
            results.append([held is None or bool(held), ""])
        except Exception as exc:
            results.append([False, f" raised {type(exc).__name__}: {exc}"])
    return results
"""
_CHECK_BUILTINS = ("abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len", "list",
                   "max", "min", "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "zip")


def _target_checks(value: Any, expressions: list[str], limits: Any) -> list[tuple[str, Callable[[Any], bool]]]:
    """The target's expressions as checks whose outcomes were computed in an isolated worker."""
    from backprose.isolation import default_sandbox

    if not expressions:
        return []
    res = default_sandbox().run(_TARGET_CHECKS, "run_checks", (value, expressions), filename="<unit tests>",
                                globals={"BUILTINS": _CHECK_BUILTINS}, limits=limits)
    if not res.ok:
        return [(f"{expr} could not run ({res.describe()})", lambda _: False) for expr in expressions]
    return [(expr + note, lambda _, held=held: held) for expr, (held, note) in zip(expressions, res.value, strict=True)]


def llm_judge(criteria: str = "Is the answer correct and well formatted?", *, llm: Any = None,
              max_tokens: int = 64) -> Callable[[Any, Example], Judgement]:
    """A guide that asks a model to grade the output: it replies 'SCORE: x' (0-10) then one line of advice."""
    from backprose.train.judge import judge_with_llm

    def guide(output: Any, example: Example) -> Judgement:
        return judge_with_llm(criteria, _text(output), example, llm=llm, max_tokens=max_tokens)

    guide.__name__ = "llm_judge"
    return guide


METRICS: dict[str, Callable[[], Callable[[Any, Example], Any]]] = {
    "exact_match": lambda: exact_match,
    "normalized_match": lambda: normalized_match,
    "numeric": lambda: numeric,
    "numeric_loose": lambda: numeric_loose,
    "regex": lambda: target_regex,
    "unit_tests": lambda: unit_tests(),
    "llm_judge": lambda: llm_judge(),
}


def metric(name: str) -> Callable[[Any, Example], Any]:
    """The guide registered under `name` (see `METRICS`)."""
    try:
        return METRICS[name]()
    except KeyError:
        raise UnknownMetric(name, sorted(METRICS)) from None
