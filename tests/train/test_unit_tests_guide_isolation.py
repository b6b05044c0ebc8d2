"""The `unit_tests` guide never evaluates dataset text in the trainer's process."""

from __future__ import annotations

import os

import pytest

from backprose.data.dataset import Example
from backprose.isolation import Limits
from backprose.train.guides import metric, unit_tests

ESCAPE = ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
          "._module.__builtins__['__import__']('os').system('echo escaped > {path}') == 0")


def test_a_target_escaping_the_restricted_eval_runs_nothing_in_the_trainer(tmp_path) -> None:
    marker = tmp_path / "escaped"
    judged = metric("unit_tests")("anything", Example("q", [ESCAPE.format(path=marker)], "0"))
    assert not marker.exists()
    assert judged.score == 0.0 and "names starting with '_'" in judged.feedback


def test_expressions_run_in_another_process() -> None:
    output = [1, 2]
    judged = unit_tests()(output, Example("q", ["output.append(3) is None", "len(output) == 3"], "0"))
    assert judged.score == 1.0
    assert output == [1, 2]  # the expressions changed a copy in the worker, not the trainer's object


def test_target_expressions_keep_a_short_list_of_builtins() -> None:
    judged = unit_tests()("Abc", Example("q", ["output.startswith('A')", "len(output) == 3",
                                               f"__import__('os').getpid() != {os.getpid()}"], "0"))
    assert judged.score == pytest.approx(2 / 3) and "NameError" in judged.feedback


def test_expressions_see_the_plain_output_and_report_each_failure() -> None:
    judged = unit_tests()([3, 1, 2], Example("q", ["sorted(output) == [1, 2, 3]", "output[0] == 1", "1/0"], "0"))
    assert judged.score == pytest.approx(1 / 3)
    assert "output[0] == 1" in judged.feedback and "ZeroDivisionError" in judged.feedback


def test_an_expression_that_never_ends_fails_instead_of_hanging() -> None:
    checks = ["len(output) == 1", "any(0 for _ in range(10**12))"]
    judged = unit_tests(limits=Limits(wall_time=1.0))("x", Example("q", checks, "0"))
    assert judged.score < 1 and "time" in judged.feedback.lower()
