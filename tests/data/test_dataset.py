"""Dataset loaders: JSONL and CSV records, seeded splits, and errors that name the bad line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprose.data import Dataset, Example, load, load_csv, load_jsonl, split
from backprose.errors import DatasetError


def test_jsonl_records_keep_ids_targets_and_extra_fields(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"input": "2+2", "target": "4", "id": "a", "level": 1}\n\n{"input": "3+3", "target": "6"}\n')
    data = load_jsonl(path)
    assert [ex.input for ex in data] == ["2+2", "3+3"]
    assert data[0].id == "a" and data[0].meta == {"level": 1}
    assert data[1].id == "3"  # line number when no id is given
    assert data.name == "d"


def test_malformed_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": 1, "target": 2}\n{"input": 1, "target": \n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl, line 2: not valid JSON") as err:
        load_jsonl(path)
    assert err.value.line == 2


def test_missing_input_field_is_named_with_the_fix(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "x", "target": 1}\n')
    with pytest.raises(DatasetError, match="line 1: the record has no 'input' field.*input_key="):
        load_jsonl(path)
    assert load_jsonl(path, input_key="question")[0].input == "x"


def test_csv_rows_and_ragged_row_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('input,target\n"a, b",1\nc,2\n')
    assert [(ex.input, ex.target) for ex in load_csv(path)] == [("a, b", "1"), ("c", "2")]
    path.write_text("input,target\na,1\nb,2,3\n")
    with pytest.raises(DatasetError, match="line 3: 3 fields but the header has 2"):
        load(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="unknown file type"):
        load(tmp_path / "x.parquet")


def test_duplicate_ids_are_refused():
    with pytest.raises(DatasetError, match="duplicate id 'x'"):
        Dataset([Example(1, 1, "x"), Example(2, 2, "x")])


@given(st.integers(0, 60), st.integers(0, 1000))
def test_split_is_a_seeded_partition(n, seed):
    data = Dataset([(i, i) for i in range(n)])
    parts = split(data, (0.5, 0.25, 0.25), seed=seed)
    ids = [ex.id for part in parts for ex in part]
    assert sorted(ids, key=int) == [str(i) for i in range(n)]
    assert [[ex.id for ex in p] for p in split(data, (0.5, 0.25, 0.25), seed=seed)] == [
        [ex.id for ex in p] for p in parts]
