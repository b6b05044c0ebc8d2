"""The suite's runner on a scripted server: cells scored once on a test split that fit never sees, results
written as each cell ends, a rerun that resumes, the budget mark, and the table's command and commit."""

import dataclasses
import json
import subprocess
from pathlib import Path

import openai
import pytest
from suite_fixtures import multiple_choice_task

from backprose.testing_server import FakeOpenAIServer
from bench.cells import commit
from bench.suite import program
from bench.suite.proxy import Route
from bench.suite.run import Plan, SealedTestSplitRead, execute
from bench.suite.systems.baseline import Baseline
from bench.suite.tasks import load_task


@pytest.fixture
def server():
    with FakeOpenAIServer(models=[program.PROGRAM_MODEL, program.OPTIMIZER_MODEL], reply="(A)") as s:
        yield s


class Servers:
    """The scripted server as both upstreams; counts how often the runner asked for them."""

    def __init__(self, url):
        self.url, self.started = url, 0

    def routes(self):
        self.started += 1
        return [Route(program.PROGRAM_MODEL, self.url, "program", 0.0),
                Route(program.OPTIMIZER_MODEL, self.url, "optimizer", 0.7)]

    def close(self):
        pass


class Caller:
    """Makes `calls` program calls on train examples and one optimizer call, then returns a fixed program."""

    def __init__(self, calls=3, fits=None):
        self.calls, self.fits = calls, fits if fits is not None else []

    def __call__(self):
        return self

    def fit(self, task, env, seed):
        self.fits.append((task.name, seed))
        client = openai.OpenAI(base_url=env.base_url, api_key=env.api_key)
        final = program.Final("Answer with the letter.")
        for ex in list(task.train)[: self.calls]:
            client.chat.completions.create(**program.request(final, ex.input, task.name))
        client.chat.completions.create(model=env.optimizer_model, messages=[{"role": "user", "content": "improve"}])
        return final


class Peeker(Caller):
    def fit(self, task, env, seed):
        return program.Final(f"There are {len(task.test)} test questions.")


PLAN = Plan(tasks=("navigate",), seeds=(0,), test={"navigate": 5}, program_calls=4, optimizer_calls=2)


@pytest.fixture
def load(tmp_path):
    path = multiple_choice_task(tmp_path / "task.json")

    def load(name, seed, test):
        return load_task(name, seed, test=test, path=path)
    return load


def run(tmp_path, server, systems, load, plan=PLAN, servers=None):
    return execute(plan, tmp_path / "out", systems, servers or Servers(server.base_url), command="python -m x",
                   version="abc1234", load=load)


def cells(tmp_path):
    lines = (tmp_path / "out/results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # not a line cut by a kill


def test_each_cell_is_scored_once_on_its_test_split_and_on_validation_outside_the_fit_counts(tmp_path, server, load):
    run(tmp_path, server, {"baseline": Baseline, "caller": Caller()}, load)
    task = load("navigate", 0, test=5)
    base, caller = cells(tmp_path)
    for cell in (base, caller):
        assert cell["status"] == "done"
        assert [i["id"] for i in cell["test"]] == [ex.id for ex in task.test]
        assert [i["id"] for i in cell["validation"]] == [ex.id for ex in task.validation]
        assert cell["score"]["program"]["calls"] == len(task.test) + len(task.validation)
    assert base["fit"] == {}
    assert (caller["fit"]["program"]["calls"], caller["fit"]["optimizer"]["calls"]) == (3, 1)
    assert caller["final"]["instruction"] == "Answer with the letter."
    assert caller["test_accuracy"] == sum(i["score"] for i in caller["test"]) / 5
    # scoring requests are the program's own; the second system's identical ones came from the cache
    assert {r["model"] for r in server.requests} == {program.PROGRAM_MODEL, program.OPTIMIZER_MODEL}


def test_a_system_that_reads_the_test_split_during_fit_fails_its_cell(tmp_path, server, load):
    table = run(tmp_path, server, {"peeker": Peeker()}, load)
    (cell,) = cells(tmp_path)
    assert cell["status"] == "failed" and SealedTestSplitRead.__name__ in cell["error"]
    assert "test" not in cell
    assert "| navigate | peeker | 0 (1 failed) | failed |" in table


def test_a_rerun_resumes_after_the_last_finished_cell_and_a_finished_run_starts_no_server(tmp_path, server, load):
    fits = []
    run(tmp_path, server, {"baseline": Baseline, "caller": Caller(fits=fits)}, load)
    results = tmp_path / "out/results.jsonl"
    first = results.read_text().splitlines()[0]
    results.write_text(first + "\n" + '{"task": "navigate", "se')  # killed while writing the second cell
    upstream = server.calls
    run(tmp_path, server, {"baseline": Baseline, "caller": Caller(fits=fits)}, load)
    assert fits == [("navigate", 0), ("navigate", 0)]  # the caller ran again, the baseline did not
    assert [c["system"] for c in cells(tmp_path)] == ["baseline", "caller"]
    assert server.calls - upstream == 1  # its program calls and its scoring came from the cache
    idle = Servers(server.base_url)
    table = run(tmp_path, server, {"baseline": Baseline, "caller": Caller(fits=fits)}, load, servers=idle)
    assert idle.started == 0 and len(fits) == 2
    assert table.count("| navigate |") == 2


def test_a_run_past_its_budget_is_marked(tmp_path, server, load):
    table = run(tmp_path, server, {"greedy": Caller(calls=PLAN.program_calls + 1)}, load)
    (cell,) = cells(tmp_path)
    assert cell["over_budget"] and "| navigate | greedy ⚠ |" in table


def test_resuming_with_other_budgets_or_test_sizes_is_refused(tmp_path, server, load):
    run(tmp_path, server, {"baseline": Baseline}, load)
    with pytest.raises(SystemExit, match="budgets"):
        run(tmp_path, server, {"baseline": Baseline}, load, plan=Plan(("navigate",), (0,), {"navigate": 5}, 9, 2))
    with pytest.raises(SystemExit, match="test items"):
        run(tmp_path, server, {"baseline": Baseline}, load, plan=Plan(("navigate",), (0,), {"navigate": 6}, 4, 2))


def test_the_table_carries_the_command_and_the_commit(tmp_path, server, load):
    table = run(tmp_path, server, {"baseline": Baseline}, load)
    assert "Command: `python -m x`" in table and "Commit: abc1234" in table
    assert (tmp_path / "out/table.md").read_text().strip() == table


def test_the_commit_says_dirty_when_the_code_differs_but_not_for_the_run_folder(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "one")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs/results.jsonl").write_text("{}\n")
    assert commit(tmp_path, tmp_path / "runs") == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert commit(tmp_path, Path(tmp_path / "runs")) == head + "+dirty"
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "new.py").write_text("y = 1\n")  # a new file the measured code may import
    assert commit(tmp_path, tmp_path / "runs") == head + "+dirty"


def test_a_peer_module_that_is_missing_or_breaks_on_import_is_logged_and_left_out(tmp_path, monkeypatch, caplog):
    from bench.suite import run as runner

    (tmp_path / "broken_peer.py").write_text("raise RuntimeError('needs a newer dspy')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runner, "PEER_SYSTEMS", ("no_such_peer_module", "broken_peer"))
    with caplog.at_level("WARNING", logger="backprose.bench"):
        systems = runner.load_systems(("baseline", "backprose"))
    assert list(systems) == ["baseline", "backprose"]
    assert "no_such_peer_module are left out: No module named 'no_such_peer_module'" in caplog.text
    assert "broken_peer are left out: it failed to import (RuntimeError: needs a newer dspy)" in caplog.text
    with pytest.raises(SystemExit, match="unknown system.*gepa2"):
        runner.load_systems(("gepa2",))


def test_the_command_line_picks_the_plan_and_its_overrides():
    from bench.suite.run import FULL, QUICK, parse, plan_of

    assert plan_of(parse(["--quick"])) == QUICK
    assert plan_of(parse([])) == dataclasses.replace(FULL, test={t: FULL.test[t] for t in FULL.tasks})
    plan = plan_of(parse(["--tasks", "humaneval,navigate", "--seeds", "1,2", "--test", "7", "--program-calls", "9",
                          "--systems", "baseline"]))
    assert (plan.tasks, plan.seeds, plan.test, plan.program_calls, plan.optimizer_calls, plan.systems) == (
        ("humaneval", "navigate"), (1, 2), {"humaneval": 7, "navigate": 7}, 9, FULL.optimizer_calls, ("baseline",))
    assert plan_of(parse(["--tasks", "humaneval"])).test == {"humaneval": 60}
    with pytest.raises(SystemExit, match="unknown task"):
        plan_of(parse(["--tasks", "winogrande"]))
