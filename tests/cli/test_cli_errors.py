"""Every user mistake is one message naming the fix, with exit status 2 and no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backprose.testing import FakeOpenAIServer

HERE = Path(__file__).parent
PROG = HERE / "cli_programs.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"input": {i}, "target": {3 * i}}}\n' for i in range(1, 9)))
    return path


@pytest.mark.parametrize("args, message", [
    (["missing.py:program", "--data", "{data}", "--metric", "numeric"], "missing.py does not exist"),
    (["{prog}:nothing", "--data", "{data}", "--metric", "numeric"], "no object named 'nothing'. Fix: use one of"),
    (["{prog}:not_a_module", "--data", "{data}", "--metric", "numeric"], "not a callable bp.Module"),
    (["{prog}", "--data", "{data}", "--metric", "numeric"], "not of the form path.py:object"),
    (["{prog}:program", "--data", "{data}", "--metric", "nope"], "unknown metric 'nope'. Use one of"),
    (["{prog}:program", "--data", "nowhere.jsonl", "--metric", "numeric"], "the file does not exist"),
    (["{prog}:program", "--data", "{bad}", "--metric", "numeric"], "bad.jsonl, line 2: not valid JSON"),
    (["{prog}:program", "--data", "{data}", "--metric", "numeric", "--optimizer", "adam"], "unknown optimizer"),
])
def test_optimize_mistakes_exit_2_with_the_fix(tmp_path, data, args, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": 1, "target": 3}\n{"input": \n')
    args = [a.format(data=data, prog=PROG, bad=bad) for a in args]
    done = run("optimize", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("backprose: error:")


def test_resume_and_report_of_a_non_run_exit_2(tmp_path):
    for command in ("resume", "report"):
        done = run(command, str(tmp_path / "nothing"), cwd=tmp_path)
        assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_no_model_installed_is_a_clear_error(tmp_path, data):
    # An unreachable model server: the run cannot start, and says how to fix it.
    env_args = ["{prog}:program", "--data", str(data), "--metric", "numeric", "--steps", "1"]
    done = subprocess.run([sys.executable, "-m", "backprose", "optimize", env_args[0].format(prog=PROG),
                           *env_args[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**_env(), "BACKPROSE_BASE_URL": "http://127.0.0.1:9/v1", "BACKPROSE_MODEL": "m",
                               "OPENAI_API_KEY": "x"})
    assert done.returncode == 2, done.stderr
    assert "could not reach an LLM server" in done.stderr and "Traceback" not in done.stderr


def _env():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BACKPROSE_")}


# --- every mistake is one line and exit 2, never a traceback ----------------------------------------------


def one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    """The run failed with status 2 and one line on stderr naming the problem and the fix."""
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("optimizing:")]
    assert len(lines) == 1, done.stderr  # a progress bar may have been drawn, never mixed with the message
    assert lines[0].startswith("backprose: error:") and "Fix:" in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def offline(**extra: str) -> dict[str, str]:
    """An environment whose model server cannot be reached: nothing here may need a model."""
    return {**_env(), "BACKPROSE_BASE_URL": "http://127.0.0.1:9/v1", "BACKPROSE_MODEL": "m", "OPENAI_API_KEY": "x",
            **extra}


def optimize(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprose", "optimize", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env=env or offline(BACKPROSE_CACHE_DIR=str(tmp_path / "c")))


@pytest.mark.parametrize("extra, fragments", [
    (["--batch-size", "0"], ["invalid --batch-size 0", "1 or more"]),
    (["--batch-size", "-2"], ["invalid --batch-size -2", "1 or more"]),
    (["--val-fraction", "1.5"], ["invalid --val-fraction 1.5", "between 0 and 1"]),
    (["--val-fraction", "-0.5"], ["invalid --val-fraction -0.5", "between 0 and 1"]),
    (["--steps", "-3"], ["invalid --steps -3", "0 or more"]),
    (["--concurrency", "0"], ["invalid --concurrency 0", "1 or more"]),
    (["--max-calls", "0"], ["invalid --max-calls 0", "1 or more"]),
    (["--steps", "many"], ["argument --steps: invalid int value: 'many'", "--help"]),
])
def test_bad_numbers_are_one_line(tmp_path, data, extra, fragments):
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "run", *extra)
    one_line_error(done, *fragments)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_data_that_is_a_folder_or_lacks_targets(tmp_path, data):
    (tmp_path / "x.jsonl").mkdir()
    done = optimize(tmp_path, f"{PROG}:program", "--data", "x.jsonl", "--metric", "numeric")
    one_line_error(done, "x.jsonl: it is a folder, not a file")
    (tmp_path / "nt.jsonl").write_text("".join(f'{{"input": {i}}}\n' for i in range(1, 9)))
    done = optimize(tmp_path, f"{PROG}:program", "--data", "nt.jsonl", "--metric", "numeric")
    one_line_error(done, "nt.jsonl, line 1: the record has no 'target' field", "add 'target' to every record")
    (tmp_path / "nt.csv").write_text("input,label\n1,3\n2,6\n3,9\n")
    done = optimize(tmp_path, f"{PROG}:program", "--data", "nt.csv", "--metric", "exact_match")
    one_line_error(done, "nt.csv, line 1: the record has no 'target' field")


def test_out_that_is_a_file_or_cannot_be_created(tmp_path, data):
    (tmp_path / "afile").write_text("not a folder")
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "afile")
    one_line_error(done, "cannot write the run to", "afile: it is a file, not a folder")
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "afile/run")
    one_line_error(done, "cannot write the run to", "afile/run: Not a directory")
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "/proc/run")
    one_line_error(done, "cannot write the run to /proc/run")
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_unreadable_out_folder_when_not_root(tmp_path, data):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--out", "locked/run")
    one_line_error(done, "cannot write the run to", "Permission denied")


def test_bogus_cache_mode_names_the_setting(tmp_path, data):
    env = offline(BACKPROSE_CACHE_MODE="bogus", BACKPROSE_CACHE_DIR=str(tmp_path / "c"))
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", env=env)
    one_line_error(done, "invalid BACKPROSE_CACHE_MODE 'bogus'", "readwrite, replay, record, off")


def test_a_program_that_raises(tmp_path, data):
    done = optimize(tmp_path, f"{PROG}:broken", "--data", str(data), "--metric", "numeric", "--out", "run")
    line = one_line_error(done, "the program raised KeyError on example", "cli_programs.py:", "@bp.bundle")
    assert "'y'" in line
    done = optimize(tmp_path, f"{PROG}:failing_factory", "--data", str(data), "--metric", "numeric")
    one_line_error(done, "calling failing_factory() raised RuntimeError: the factory needs a database")


def test_steps_zero_scores_the_program_and_reports(tmp_path, data):
    done = optimize(tmp_path, f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--steps", "0",
                    "--out", "run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validation score: 0.000 -> 0.000" in done.stdout and (tmp_path / "run" / "report.html").exists()


# --- resume and report of a damaged run folder ------------------------------------------------------------


def suggest_three(body):
    """An optimizer's reply to any prompt: the right multiplier."""
    return json.dumps({"reasoning": "outputs are a third of the targets", "suggestion": {"k": 3}})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-step run (its optimizer asks a fake server; resuming or reporting it needs no model)."""
    root = tmp_path_factory.mktemp("finished")
    (root / "d.jsonl").write_text("".join(f'{{"input": {i}, "target": {3 * i}}}\n' for i in range(1, 9)))
    with FakeOpenAIServer(reply=suggest_three) as server:
        env = {**offline(BACKPROSE_CACHE_DIR=str(root / "c")), "BACKPROSE_BASE_URL": server.base_url,
               "BACKPROSE_MODEL": "fake-model"}
        done = optimize(root, f"{PROG}:program", "--data", str(root / "d.jsonl"), "--metric", "numeric", "--steps",
                        "2", "--out", "run", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (root / "run" / "rollouts.jsonl").exists() and (root / "run" / "events.jsonl").exists()
    return root / "run"


@pytest.fixture
def run_copy(tmp_path, finished_run):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def again(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, env=offline(BACKPROSE_CACHE_DIR=str(tmp_path / "c")))


def _edit_checkpoint(run: Path, edit) -> None:
    ck = json.loads((run / "checkpoint.json").read_text())
    edit(ck)
    (run / "checkpoint.json").write_text(json.dumps(ck))


def test_checkpoint_without_spent(tmp_path, run_copy):
    _edit_checkpoint(run_copy, lambda ck: ck.pop("spent"))
    one_line_error(again(tmp_path, "resume", "run"), "cannot resume", "checkpoint.json has no 'spent' field")
    one_line_error(again(tmp_path, "report", "run"), "cannot report on", "checkpoint.json has no 'spent' field")


@pytest.mark.parametrize("edit, fragment", [
    (lambda ck: ck.update(step="two"), "field 'step' is a str"),
    (lambda ck: ck.update(spent={"calls": "many"}), "field 'spent' holds ['calls']"),
    (lambda ck: ck.update(history=[{"nothing": 1}]), "'history' holds a record that is not a step"),
])
def test_checkpoint_with_wrong_fields(tmp_path, run_copy, edit, fragment):
    _edit_checkpoint(run_copy, edit)
    one_line_error(again(tmp_path, "resume", "run"), "cannot resume", fragment)


@pytest.mark.parametrize("text, fragment", [("{not json", "config.json is damaged"),
                                            ("[1, 2]", "config.json holds a JSON list")])
def test_damaged_config(tmp_path, run_copy, text, fragment):
    (run_copy / "config.json").write_text(text)
    one_line_error(again(tmp_path, "resume", "run"), "cannot resume", fragment)
    one_line_error(again(tmp_path, "report", "run"), "cannot report on", fragment)


def test_empty_config_is_a_python_run(tmp_path, run_copy):
    (run_copy / "config.json").write_text("{}")
    one_line_error(again(tmp_path, "resume", "run"), "started from Python", "fit(resume=True)")
    assert again(tmp_path, "report", "run").returncode == 0  # a report needs no command line


def test_config_missing_an_option(tmp_path, run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    del config["metric"]
    config["batch_size"] = 0
    (run_copy / "config.json").write_text(json.dumps(config))
    one_line_error(again(tmp_path, "resume", "run"), "invalid --metric None", "config.json", "missing")


@pytest.mark.parametrize("name", ["rollouts.jsonl", "events.jsonl"])
@pytest.mark.parametrize("damage, fragment", [
    (b'{"state": "x"}\n', "line 1 is damaged"),
    (b"[1, 2]\n", "line 1 is damaged"),
    (b"not json at all\n", "line 1 is damaged (not valid JSON"),
    (bytes(range(256)) * 4, "line 1 is damaged"),
    (bytes(range(128, 256)) * 4 + b"\n", "line 1 is damaged (not UTF-8 text)"),
], ids=["not-a-record", "a-list", "not-json", "binary", "not-utf8"])
def test_malformed_or_binary_journal_and_log(tmp_path, run_copy, name, damage, fragment):
    original = (run_copy / name).read_bytes()
    (run_copy / name).write_bytes(damage + original)
    one_line_error(again(tmp_path, "resume", "run"), "cannot resume", f"{name} {fragment}", f"delete {name}")
    if name == "events.jsonl":
        one_line_error(again(tmp_path, "report", "run"), "cannot report on", f"{name} {fragment}")


def test_torn_last_lines_are_not_damage(tmp_path, run_copy):
    for name in ("rollouts.jsonl", "events.jsonl"):
        with open(run_copy / name, "ab") as fh:
            fh.write(b'{"state": "ab')  # a line cut short by a kill
    done = again(tmp_path, "report", "run")
    assert done.returncode == 0, done.stderr
    done = again(tmp_path, "resume", "run")
    assert done.returncode == 0, done.stderr
    assert not (run_copy / "rollouts.jsonl").read_bytes().endswith(b'{"state": "ab')


def test_report_path_in_a_missing_folder(tmp_path, run_copy):
    one_line_error(again(tmp_path, "report", "run", "-o", "nowhere/r.html"), "cannot write the report to",
                   "the folder", "nowhere does not exist")
    one_line_error(again(tmp_path, "report", "run", "-o", "run"), "cannot write the report to")


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "plain").mkdir()
    line = one_line_error(again(tmp_path, "report", "plain"), "cannot report on", "it is not a run folder")
    assert "resume" not in line
    one_line_error(again(tmp_path, "resume", "plain"), "cannot resume", "config.json")
