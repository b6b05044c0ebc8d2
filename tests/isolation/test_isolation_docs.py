"""The example in docs/isolation.md runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "isolation.md"


def test_doc_example_prints_what_it_promises() -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    printed = out.getvalue().splitlines()
    assert printed[0] == "True 5.0 'computing 3 4\\n'"
    assert printed[1] == "ZeroDivisionError 10 return x / y"
    assert printed[2] in ("True 2", "True 3")  # the loop header or its body, wherever the kill landed
    assert printed[3] == "13.0"
    # And the comments in the doc say the same.
    for line in printed[:2] + printed[3:]:
        assert f"# {line}" in code


# Each promise in the "What holds" section of docs/isolation.md, keyed by its bold label, with the tests
# that break when the promise does. A label here that the doc lacks, or one the doc has and this lacks,
# fails the test below; so does a test name that does not exist.
PROMISES: dict[str, list[str]] = {
    "Not in the caller.": [
        "tests/isolation/test_sandbox.py::test_runs_in_another_process",
        "tests/trace/test_isolated_code.py::test_user_code_runs_in_process_and_optimized_code_in_a_worker",
    ],
    "Fresh state per call.": [
        "tests/isolation/test_clean_state.py::test_one_candidates_changes_never_reach_the_next",
        "tests/isolation/test_clean_state.py::"
        "test_modules_the_caller_names_are_imported_once_and_each_candidate_gets_a_fresh_copy",
        "tests/isolation/test_sandbox.py::test_workers_are_reused_between_calls_and_each_call_gets_a_fresh_child",
        "tests/isolation/test_sandbox.py::test_each_call_gets_a_fresh_namespace",
        "tests/isolation/test_clean_state.py::test_processes_a_call_leaves_running_are_killed_before_the_next_call",
        "tests/isolation/test_clean_state.py::"
        "test_preloaded_modules_are_imported_once_per_worker_and_not_put_in_the_namespace",
    ],
    "Data, never pickles.": [
        "tests/isolation/test_reply_channel.py::test_a_value_whose_reduce_runs_code_is_refused_and_runs_nothing",
        "tests/isolation/test_reply_channel.py::"
        "test_a_trainable_bundle_returning_such_a_value_runs_nothing_in_the_caller",
        "tests/isolation/test_reply_channel.py::test_plain_types_cross_unchanged",
        "tests/isolation/test_reply_channel.py::test_numpy_arrays_and_scalars_cross_with_dtype_and_shape",
        "tests/isolation/test_reply_channel.py::test_an_unsupported_return_type_is_an_error_naming_the_type",
        "tests/isolation/test_sandbox_failures.py::test_results_that_are_not_plain_data_are_error_results",
        "tests/isolation/test_wire.py::test_decoding_refuses_anything_the_encoder_does_not_write",
        "tests/isolation/test_hostile_worker.py::test_whatever_a_worker_sends_is_data_or_refused",
    ],
    "A capped reply.": [
        "tests/isolation/test_reply_channel.py::test_a_reply_above_the_cap_is_a_clear_error",
        "tests/isolation/test_reply_channel.py::"
        "test_the_worker_enforces_the_cap_even_when_the_code_writes_the_frame_itself",
        "tests/isolation/test_hostile_worker.py::test_whatever_a_worker_sends_is_data_or_refused",
    ],
    "The channel is out of reach.": [
        "tests/isolation/test_reply_channel.py::test_candidate_code_does_not_hold_the_callers_channel",
        "tests/isolation/test_reply_channel.py::"
        "test_a_frame_forged_on_the_workers_own_descriptor_is_refused_and_nothing_shifts",
        "tests/isolation/test_reply_channel.py::test_a_forged_frame_never_becomes_another_calls_reply",
        "tests/isolation/test_reply_channel.py::test_a_well_formed_reply_written_besides_returning_is_refused",
    ],
    "Every exception is a result.": [
        "tests/isolation/test_reply_channel.py::test_keyboard_interrupt_is_an_exception_with_its_line",
        "tests/isolation/test_sandbox_failures.py::test_system_exit_is_an_ordinary_error",
        "tests/isolation/test_sandbox_failures.py::test_exception_points_at_the_failing_line",
        "tests/isolation/test_sandbox_failures.py::test_segfault_is_a_crash_result_with_location",
        "tests/isolation/test_sandbox_failures.py::test_os_exit_sets_exit_code_and_next_call_works",
        "tests/isolation/test_sandbox_failures.py::"
        "test_a_crash_is_reported_even_when_a_process_the_code_forked_holds_the_reply_pipe",
    ],
    "Limits hold.": [
        "tests/isolation/test_sandbox_failures.py::test_infinite_loop_times_out_and_the_caller_continues",
        "tests/isolation/test_sandbox_failures.py::test_timeout_also_kills_subprocesses_the_code_started",
        "tests/isolation/test_sandbox_failures.py::test_memory_bomb_is_memory_exceeded",
        "tests/isolation/test_sandbox_failures.py::test_cpu_time_limit_is_a_backstop",
        "tests/isolation/test_clean_state.py::"
        "test_the_workers_one_time_imports_do_not_count_against_the_calls_wall_time",
    ],
    "Nothing outlives the caller.": [
        "tests/isolation/test_sandbox_concurrency.py::test_close_leaves_no_child_processes",
        "tests/isolation/test_worker_lifetime.py::test_default_sandbox_workers_stop_at_interpreter_exit",
        "tests/isolation/test_worker_lifetime.py::test_worker_exits_when_its_parent_dies_mid_call",
        "tests/isolation/test_caller_killed.py::test_sigkilled_caller_takes_the_worker_its_children_and_its_temp_dir",
    ],
    "Strict mode hides the environment.": [
        "tests/isolation/test_strict_mode.py::test_strict_mode_scrubs_environment_and_uses_a_temp_cwd",
    ],
    "Dataset checks stay out of the trainer.": [
        "tests/train/test_unit_tests_guide_isolation.py::"
        "test_a_target_escaping_the_restricted_eval_runs_nothing_in_the_trainer",
        "tests/train/test_unit_tests_guide_isolation.py::test_expressions_see_the_plain_output_and_report_each_failure",
    ],
}


def test_every_promise_in_the_doc_has_tests_that_exist() -> None:
    text = DOC.read_text()
    section = text.split("## What holds", 1)[1].split("\n## ", 1)[0]
    labels = re.findall(r"^- \*\*(.+?)\*\*", section, re.M)
    assert labels and sorted(labels) == sorted(PROMISES)
    root = DOC.parents[1]
    for label, tests in PROMISES.items():
        assert tests, label
        for test_id in tests:
            path, name = test_id.split("::")
            defined = re.findall(r"^(?:async )?def (test_\w+)", (root / path).read_text(), re.M)
            assert name in defined, f"{label}: {test_id} does not exist"
