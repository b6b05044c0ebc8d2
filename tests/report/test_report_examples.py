"""The report's per-example tables: every validation (and test) example's input, output, score and feedback
before and after training, cut when long with the full text one click away, and escaped: a program's output
is data, never markup."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

import backprose as bp
from backprose.errors import CheckpointError
from backprose.report import write_report
from backprose.report.html import CLIP
from backprose.train import ScriptedOptimizer, Trainer

EVIL = "<script>alert('owned')</script>"


@bp.bundle()
def shout(x, k):
    """Answers with markup, and with a long tail on the last example."""
    return f"{EVIL} {x * k}" + (" and so on" * 40 if x == 12 else "")


class Shouter(bp.Module):
    def __init__(self):
        self.k = bp.param(1, name="k", description="the multiplier")

    def __call__(self, x):
        return shout(x, self.k)


def guide(output, example):
    ok = output.split("</script> ")[1].startswith(str(example.target))
    return (1.0 if ok else 0.0), f"<b>bold</b> & {'right' if ok else 'wrong'} </td></tr></table>"


def inputs(start, n):
    return [{"id": f"<i>{i}</i>", "input": i, "target": 3 * i} for i in range(start, start + n)]


class Cells(HTMLParser):
    """The text of every cell of every `table.examples`, row by row; every tag of the page, and of those tables."""

    def __init__(self):
        super().__init__()
        self.tables, self.tags, self.table_tags, self._in, self._cell = [], [], set(), False, None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if self._in:
            self.table_tags.add(tag)
        if tag == "table":
            self._in = ("class", "examples") in attrs
            if self._in:
                self.tables.append([])
        elif self._in and tag == "tr":
            self.tables[-1].append([])
        elif self._in and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._in = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def run(tmp_path):
    trainer = Trainer(Shouter(), inputs(1, 4), inputs(10, 3), guide, lambda ps: ScriptedOptimizer(ps, [{"k": 3}]),
                      steps=1, batch_size=2, run_dir=tmp_path / "run")
    trainer.fit()
    trainer.evaluate(inputs(20, 2))
    return tmp_path / "run"


def test_tables_show_every_example_before_and_after_with_markup_escaped(run):
    page = write_report(run).read_text(encoding="utf-8")
    cells = Cells()
    cells.feed(page)
    assert "script" not in cells.tags
    assert cells.table_tags == {"tr", "th", "td", "div", "span", "details", "summary"}  # none from the data
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    validation, test = cells.tables
    assert [row[:3] for row in validation[1:]] == [["<i>10</i>", "10", "30"], ["<i>11</i>", "11", "33"],
                                                   ["<i>12</i>", "12", "36"]]
    first = validation[1]
    assert first[3] == f"{EVIL} 10" + "0.00 <b>bold</b> & wrong </td></tr></table>"
    assert first[4] == f"{EVIL} 30" + "1.00 <b>bold</b> & right </td></tr></table>"
    assert [row[2] for row in test[1:]] == ["60", "63"]
    assert "Validation: 0.000 &rarr; 1.000" in page and "Test (held out): 0.000 &rarr; 1.000" in page
    assert "<th>test (held out) score</th><td>0.000 &rarr; 1.000</td>" in page
    assert "fixed 3 and broke 0" in page and 'class="up"' in page


def test_long_text_is_cut_with_the_full_text_in_details(run):
    page = write_report(run).read_text(encoding="utf-8")
    long = f"{EVIL} 36" + " and so on" * 40
    assert len(long) > CLIP
    escaped = long.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    short = long[:CLIP].replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    assert f"<details><summary>{short}&hellip;</summary>{escaped}</details>" in page
    assert page.count("<details>") == 2  # the last example's output before and after; nothing short is cut


def test_a_run_without_results_files_still_reports(run):
    (run / "val_results.json").unlink()
    (run / "test_results.json").unlink()
    page = write_report(run).read_text(encoding="utf-8")
    assert 'class="examples"' not in page and "Scores by step" in page


def test_results_of_the_final_program_only_make_a_one_column_table(run):
    data = json.loads((run / "val_results.json").read_text())
    del data["scores"]["start"]
    for e in data["examples"]:
        del e["start"]
    (run / "val_results.json").write_text(json.dumps(data))
    page = write_report(run).read_text(encoding="utf-8")
    assert "Validation: 1.000</h2>" in page and "only the final program's answers were recorded" in page


def test_a_damaged_results_file_is_refused_with_the_fix(run):
    (run / "test_results.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"test_results.json is damaged .* Fix: delete test_results.json"):
        write_report(run)
