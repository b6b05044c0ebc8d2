"""Designs: prompts found by parsing, archive round trip and crash tolerance, standalone export."""

from __future__ import annotations

import json
import subprocess
import sys

from search_helpers import VERIFY

from backprose.search import Archive, Design, bootstrap, export_design, prompts_of
from backprose.search import seeds as seed_designs


def test_prompts_are_the_prompts_dict_and_upper_case_string_constants():
    code = 'SYSTEM = "be brief"\nROUNDS = 2\nlower = "x"\nPROMPTS = {"a": "A {task}", "b": "B"}\n'
    assert prompts_of(code) == {"SYSTEM": "be brief", "PROMPTS.a": "A {task}", "PROMPTS.b": "B"}
    assert prompts_of("def broken(:\n") == {}


def test_every_seed_is_a_short_module_with_forward_and_prompts():
    seeds = seed_designs.load()
    assert [s.name for s in seeds] == list(seed_designs.NAMES)
    for seed in seeds:
        assert "def forward(task" in seed.code and seed.prompts() and len(seed.code.splitlines()) < 40
        assert seed.thought and not seed.thought.startswith(seed.name)


def test_archive_round_trip_and_a_torn_last_line(tmp_path):
    path = tmp_path / "archive.jsonl"
    archive = Archive(path)
    good = Design("good", "t", VERIFY, fitness=bootstrap([1, 1, 0]), scores=[1, 1, 0], usage={"meta_calls": 3})
    archive.add(good)
    archive.add(Design("bad", "t", "x", error="boom", generation=1, operator="mutate", parents=[0]))
    with path.open("a") as fh:
        fh.write('{"type": "design", "des')
    loaded = Archive(path)
    assert [d.as_dict() for d in loaded] == [d.as_dict() for d in archive]
    loaded.add(Design("next", "t", VERIFY, generation=2))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    assert [d.id for d in Archive(path)] == [0, 1, 2] and Archive(path).best().name == "good"


def test_export_writes_a_runnable_file_with_the_tuned_prompts(tmp_path):
    design = Design("verify", "check the work", VERIFY, id=4, fitness=bootstrap([1, 0, 1, 1]))
    path = tmp_path / "best_agent.py"
    source = export_design(design, path, prompts={"PROMPTS.solve": "Verify: {task}"})
    assert "archive #4" in source and "PROMPTS['solve'] = 'Verify: {task}'" in source
    compile(source, str(path), "exec")
    probe = f"import runpy; ns = runpy.run_path({str(path)!r}); print(ns['PROMPTS']['solve'])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Verify: {task}"
    untouched = export_design(design, prompts=design.prompts())
    assert "tuned" not in untouched
