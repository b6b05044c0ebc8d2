"""HumanEval checking runs the problem's tests in a strict sandbox: never in the caller's process."""

import os

import pytest
from suite_fixtures import humaneval_file

from backprose.isolation import Limits
from bench.suite.humaneval import HumanEvalGuide, canonical_solutions, load

SOLUTION = "    return a + b\n"


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    path = humaneval_file(tmp_path_factory.mktemp("he") / "HumanEval.jsonl.gz")
    assert canonical_solutions(path) == {"HumanEval/0": SOLUTION}
    example = load(path)[0]
    assert SOLUTION not in repr(example)  # the reference solution never travels with the example
    return example


@pytest.fixture(scope="module")
def guide():
    with HumanEvalGuide(limits=Limits(wall_time=5.0)) as g:
        yield g


def test_the_canonical_solution_passes(problem, guide):
    assert guide(SOLUTION, problem).score == 1.0  # a body completing the prompt


def test_a_whole_function_in_a_code_fence_passes(problem, guide):
    reply = "Here it is:\n```python\ndef add(a: int, b: int) -> int:\n    return b + a\n```\n"
    judgement = guide(reply, problem)
    assert (judgement.score, judgement.feedback) == (1.0, "All tests pass.")


def test_a_wrong_function_fails_with_the_failing_assertion(problem, guide):
    judgement = guide("def add(a, b):\n    return a - b\n", problem)
    assert judgement.score == 0.0
    assert "AssertionError" in judgement.feedback and "assert candidate(1, 2) == 3" in judgement.feedback


def test_the_candidate_runs_in_another_process(problem, guide):
    here = os.getpid()
    candidate = f"import os\n\ndef add(a, b):\n    return a + b if os.getpid() != {here} else None\n"
    assert guide(candidate, problem).score == 1.0


def test_a_candidate_writing_a_file_at_import_leaves_the_callers_folder_alone(problem, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # before the guide starts its workers, so they are started from here
    candidate = "open('pwned.txt', 'w').write('x')\n\ndef add(a, b):\n    return a + b\n"
    with HumanEvalGuide() as guide:
        guide(candidate, problem)
    assert list(tmp_path.iterdir()) == []


def test_a_candidate_killing_its_parent_scores_zero_and_the_caller_goes_on(problem, guide):
    candidate = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n\ndef add(a, b):\n    return a + b\n"
    judgement = guide(candidate, problem)
    assert judgement.score == 0.0 and judgement.feedback.startswith("The tests failed:")
    assert guide(SOLUTION, problem).score == 1.0  # a fresh worker took over


def test_a_candidate_that_never_returns_is_stopped_at_the_time_limit(problem):
    with HumanEvalGuide(limits=Limits(wall_time=1.0)) as guide:
        judgement = guide("def add(a, b):\n    while True:\n        pass\n", problem)
    assert judgement.score == 0.0 and "Timeout" in judgement.feedback


def test_a_candidate_signalling_its_process_group_never_reaches_the_caller(problem, guide):
    # The call runs in a process group of its own, so "its" group is not the caller's.
    candidate = "import os, signal\nos.killpg(0, signal.SIGTERM)\n\ndef add(a, b):\n    return a + b\n"
    assert guide(candidate, problem).score == 0.0
    assert guide(SOLUTION, problem).score == 1.0
