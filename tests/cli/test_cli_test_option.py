"""`backprose optimize ... --test FILE`: held-out records scored once after training, before and after, saved
in the run folder and shown in the report; a test file that is not held out, or not readable, is refused
before any model starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backprose.cli import main
from backprose.testing import FakeOpenAIServer

PROG = Path(__file__).parent / "cli_programs.py"


def rows(path: Path, numbers, key: str = "target") -> Path:
    path.write_text("".join(json.dumps({"input": i, key: 3 * i}) + "\n" for i in numbers))
    return path


@pytest.fixture
def data(tmp_path):
    return rows(tmp_path / "d.jsonl", range(1, 9))


@pytest.mark.parametrize("make, message", [
    (lambda tmp, data: tmp / "nowhere.jsonl", "nowhere.jsonl: the file does not exist. Fix: check the path"),
    (lambda tmp, data: data, "it is the --data file, which trains and validates the program, so its score would "
                             "not be held out. Fix: give --test a file of other records."),
    (lambda tmp, data: rows(tmp / "t.jsonl", [7, 20, 8]), "2 of its 3 records have an input that is also in "
                                                         "--data (the first: id '1'). Fix: remove those records"),
    (lambda tmp, data: rows(tmp / "t.jsonl", [20, 21], key="answer"), "t.jsonl, line 1:"),
    (lambda tmp, data: Path(str(rows(tmp / "t.jsonl", [20])) + ".txt"), "unknown file type '.txt'"),
])
def test_a_test_file_that_cannot_be_used_exits_2_with_the_fix_before_anything_starts(tmp_path, data, capsys,
                                                                                    make, message):
    test = make(tmp_path, data)
    code = main(["optimize", f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--test", str(test),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.startswith("backprose: error:") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # refused before the run folder or a model


def test_a_config_with_a_test_that_is_not_a_path_is_refused_on_resume(tmp_path, data, capsys):
    run = tmp_path / "run"
    run.mkdir()
    config = {"program": f"{PROG}:program", "data": str(data), "test": 5, "metric": "numeric",
              "optimizer": "optoprime", "strategy": "best_of_n", "steps": 1, "batch_size": 2, "val_fraction": 0.5,
              "seed": 0}
    (run / "config.json").write_text(json.dumps(config))
    assert main(["resume", str(run)]) == 2
    assert "invalid --test 5: it must be the path of a data file (in " in capsys.readouterr().err


def optoprime_reply(body):
    return json.dumps({"reasoning": "outputs are a third of the targets", "suggestion": {"k": 3}})


def cli(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "backprose", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_optimize_with_test_scores_it_once_saves_it_and_reports_it(tmp_path, data):
    test = rows(tmp_path / "test.csv.jsonl", range(50, 55))
    with FakeOpenAIServer(reply=optoprime_reply) as server:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_"))},
               "BACKPROSE_BASE_URL": server.base_url, "BACKPROSE_MODEL": "fake-model", "OPENAI_API_KEY": "x",
               "BACKPROSE_CACHE_DIR": str(tmp_path / "cache")}
        done = cli("optimize", f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--steps", "1",
                   "--test", test.name, "--out", "run", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "validation score: 0.000 -> 1.000" in done.stdout
        want = "test score: 0.000 -> 1.000 (5 held-out examples, 0 model calls; never used for any decision)"
        assert want in done.stdout
        run = tmp_path / "run"
        assert json.loads((run / "config.json").read_text())["test"] == str(test)
        saved = json.loads((run / "test_results.json").read_text())
        assert saved["scores"] == {"start": 0.0, "final": 1.0}
        assert [e["input"] for e in saved["examples"]] == [50, 51, 52, 53, 54]
        assert [e["start"]["output"] for e in saved["examples"]] == ["50", "51", "52", "53", "54"]
        assert [e["final"]["output"] for e in saved["examples"]] == ["150", "153", "156", "159", "162"]
        # the test set decided nothing: the run's history is that of the same run without --test
        plain = cli("optimize", f"{PROG}:program", "--data", str(data), "--metric", "numeric", "--steps", "1",
                    "--out", "plain", env=env, cwd=tmp_path)
        assert plain.returncode == 0, plain.stderr[-3000:]
        assert not (tmp_path / "plain" / "test_results.json").exists() and "test score" not in plain.stdout

        def history(name):
            keep = ("step", "batch", "candidate", "accepted", "reason", "batch_before", "batch_after", "val_after")
            return [{k: h.get(k) for k in keep}
                    for h in json.loads((tmp_path / name / "checkpoint.json").read_text())["history"]]

        assert history("run") == history("plain")
        asked = len(server.requests)
        again = cli("resume", "run", env=env, cwd=tmp_path)  # a finished run resumes to the same files
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == asked
        assert json.loads((run / "test_results.json").read_text()) == saved
    page = (run / "report.html").read_text()
    assert "Test (held out): 0.000 &rarr; 1.000" in page and "Validation: 0.000 &rarr; 1.000" in page
