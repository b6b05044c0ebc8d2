"""docs/training.md tells the truth about what a run from Python writes and which options it takes."""

import inspect
import re
from pathlib import Path

import backprose as bp
from backprose.report import write_report
from backprose.train import Trainer, train

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "training.md").read_text()


@bp.bundle()
def times(x: int, k: int) -> int:
    """Multiply the input by k."""
    return x * k


class Multiplier(bp.Module):
    def __init__(self) -> None:
        self.k = bp.param(1, name="k", description="the multiplier")

    def __call__(self, x: int) -> bp.Node:
        return times(x, self.k)


def section(title: str) -> str:
    return PAGE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def run(tmp_path, **options):
    program = Multiplier()
    data = [(x, 3 * x) for x in range(1, 5)]
    teacher = bp.llm.Scripted(lambda messages: '{"reasoning": "three times", "suggestion": {"k": 3}}')
    optimizer = bp.optimizers.OptoPrime(program.parameters(), llm=teacher)
    return train(program, data, data, "numeric", optimizer, steps=1, batch_size=2, run_dir=tmp_path / "run",
                 **options)


def test_every_file_of_the_run_folder_table_is_there_after_a_run_from_python(tmp_path):
    result = run(tmp_path)
    assert result.final_val == 1.0
    rows = [(name, what) for files, what in re.findall(r"^\| (`[^|]+) \| (.*) \|$", section("Run folder"), re.MULTILINE)
            for name in re.findall(r"`([^`]+)`", files)]
    assert len(rows) >= 7, rows
    by_cli = [name for name, what in rows if "written by the CLI" in what]
    by_evaluate = [name for name, what in rows if "written by `Trainer.evaluate(test)`" in what]
    missing = [name for name, what in rows
               if name not in by_cli + by_evaluate and not (result.run_dir / name).is_file()]
    assert missing == [], "the page says a run from Python writes these, and it did not"
    assert by_cli == ["report.html"] and by_evaluate == ["test_results.json"]
    assert not (result.run_dir / "test_results.json").exists()
    assert "backprose.report.write_report(run_dir)" in dict(rows)["report.html"]  # the way to get one
    assert not (result.run_dir / "report.html").exists()
    assert write_report(result.run_dir) == result.run_dir / "report.html"
    assert "Scores by step" in (result.run_dir / "report.html").read_text()


def test_every_option_of_train_and_trainer_is_in_the_options_table():
    table = set(re.findall(r"^\| `(\w+)` \|", section("Options"), re.MULTILINE))
    names = {n for fn in (Trainer.__init__, train) for n, p in inspect.signature(fn).parameters.items()
             if p.kind is not p.VAR_KEYWORD and n not in ("self", "module", "train")}
    assert names - table == set(), "undocumented options"
    assert table - names == set(), "documented options that do not exist"


def test_progress_shows_a_bar_with_the_scores_calls_and_cost_on_stderr(tmp_path, capsys):
    run(tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "optimizing" in err and "1/1" in err
    for field in ("batch=", "val=1.00", "calls=", "cost=$"):
        assert field in err
    run(tmp_path / "quiet")
    assert capsys.readouterr().err == ""
    assert "`progress`" in section("Options") and "stderr" in section("Options")


def test_the_cli_section_says_where_report_html_comes_from():
    shell = re.search(r"```bash\n(.*?)```", PAGE, re.DOTALL).group(1)
    assert "backprose report runs/first" in shell and "report.html" in shell
