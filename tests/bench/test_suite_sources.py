"""The data lives in backprose's cache folder; a cached file is used as is, a wrong download is refused."""

import pytest
from suite_fixtures import multiple_choice_task

from bench.suite import load_task, sources


def test_the_cache_follows_backprose_cache_dir_and_a_cached_file_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path))
    assert sources.data_dir() == tmp_path / "bench"
    cached = tmp_path / "bench" / "bigbench" / "navigate" / "task.json"
    cached.parent.mkdir(parents=True)
    multiple_choice_task(cached)
    monkeypatch.setattr(sources, "_download", None)  # any download attempt would fail loudly
    task = load_task("navigate", 0, test=30)
    assert task.test[0].input.startswith("Question ")


def test_a_file_differing_from_the_pinned_version_is_removed_and_refused(tmp_path):
    path = multiple_choice_task(tmp_path / "task.json")
    with pytest.raises(sources.SourceUnavailable, match="differs from the pinned version"):
        sources._check("navigate", path)
    assert not path.exists()


def test_only_the_suite_tasks_can_be_asked_for():
    with pytest.raises(KeyError, match="not a suite task"):
        sources.bigbench_task_file("some_other_task")
    with pytest.raises(KeyError, match="unknown task"):
        load_task("some_other_task")
