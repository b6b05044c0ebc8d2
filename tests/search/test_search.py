"""The search loop with a scripted meta agent: broken designs are debugged, never fatal; kill and resume
give the same archive; the reported number is the validation-best design's test score."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from search_helpers import (
    AGENT,
    ENDLESS,
    MEMORY_BOMB,
    PLAIN,
    RUNTIME_ERROR,
    SYNTAX_ERROR,
    VERIFY,
    design_reply,
    meta_responder,
)

from backprose.isolation import Limits
from backprose.llm import Scripted
from backprose.search import Archive, Design, MetaAgentSearch, SearchTask, numeric

HERE = Path(__file__).parent
LIMITS = Limits(wall_time=3.0, memory_mb=400)


def plain_seed() -> Design:
    return Design("plain", "answer directly", PLAIN)


def test_each_broken_design_is_caught_fed_back_and_fixed(task, sandbox):
    broken = {"syntax": SYNTAX_ERROR, "runtime": RUNTIME_ERROR, "endless": ENDLESS, "memory": MEMORY_BOMB}
    meta = Scripted(meta_responder([design_reply(n, c) for n, c in broken.items()]))
    search = MetaAgentSearch(task, None, meta, AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS)
    result = search.run(generations=4)

    made = search.archive.designs[1:]
    assert [d.attempts[0]["error"] is not None for d in made] == [True] * 4
    expected = ["SyntaxError", "IndexError", "time limit", "out of memory"]
    for design, text in zip(made, expected, strict=True):
        assert text in design.attempts[0]["error"]
        assert design.attempts[1] == {"stage": "debug 1", "error": None}
        assert design.ok and design.fitness.median == 1.0 and design.name == "fixed_1"
    # The error text itself went back to the meta agent in the debug prompt.
    debug_prompts = [p[-1]["content"] for p in meta.prompts if "# Your design failed" in p[-1]["content"]]
    assert len(debug_prompts) == 4
    assert all(text in prompt for text, prompt in zip(expected, debug_prompts, strict=True))
    assert result.best.fitness.median == 1.0 and result.best.operator in ("mutate", "crossover", "novel")


def test_a_design_still_failing_after_all_debug_rounds_is_archived_with_its_error(task, sandbox):
    meta = Scripted(meta_responder([design_reply("bad", RUNTIME_ERROR)], fixes=[SYNTAX_ERROR, RUNTIME_ERROR]))
    search = MetaAgentSearch(task, None, meta, AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS,
                             debug_rounds=2)
    design = search.step(1)
    assert not design.ok and "IndexError" in design.error
    assert [a["stage"] for a in design.attempts] == ["proposal", "debug 1", "debug 2"]
    assert search.archive.best().name == "plain"  # a failed design is never selected


def test_unusable_meta_replies_never_crash_the_search(task, sandbox):
    meta = Scripted(lambda messages: "I would rather not write code today.")
    search = MetaAgentSearch(task, None, meta, AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS)
    result = search.run(generations=2)
    assert [d.ok for d in search.archive] == [True, False, False]
    assert "unusable" in search.archive[1].error
    assert result.best.name == "plain"


def test_reflection_rounds_revise_the_proposal_before_it_runs(task, sandbox):
    replies = iter([design_reply("first", PLAIN), design_reply("second", PLAIN), design_reply("third", VERIFY)])
    meta = Scripted(lambda messages: next(replies))
    search = MetaAgentSearch(task, None, meta, AGENT, seeds=[], sandbox=sandbox, limits=LIMITS, reflections=2)
    design = search.step(1)
    assert design.name == "third" and design.fitness.median == 1.0 and len(design.attempts) == 1
    assert ["Reflection 1 of 2" in p[-1]["content"] for p in meta.prompts] == [False, True, False]
    assert design.usage["meta_calls"] == 3 and design.usage["agent_calls"] == len(task.validation)


def by_content(messages: list[dict]) -> str:
    """A meta agent whose reply depends only on the prompt, so two runs in the same state agree."""
    user = messages[-1]["content"]
    if "# Your job" not in user:
        return json.dumps({"thought": "t", "name": "kept", "code": user.split("```python\n", 1)[1].split("```")[0]})
    pick = int(hashlib.sha256(user.encode()).hexdigest(), 16) % 3
    code = [PLAIN, VERIFY, RUNTIME_ERROR][pick]
    return design_reply(f"design_{pick}", code)


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {here!r})
from test_search import by_content, plain_seed, LIMITS
from search_helpers import AGENT
from backprose.llm import Scripted
from backprose.search import MetaAgentSearch, arithmetic

proposals = 0
def respond(messages):
    global proposals
    if "# Your job" in messages[-1]["content"]:
        proposals += 1
        if proposals == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    return by_content(messages)

search = MetaAgentSearch(arithmetic(6, 6, seed=1), {path!r}, Scripted(respond), AGENT, seeds=[plain_seed()],
                         limits=LIMITS, debug_rounds=1, reflections=1)
search.run(generations=5)
"""


def design_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if '"type": "design"' in line]


def test_kill_and_resume_gives_the_same_archive_as_an_uninterrupted_run(task, sandbox, tmp_path):
    whole, resumed = tmp_path / "whole.jsonl", tmp_path / "resumed.jsonl"
    options = {"seeds": [plain_seed()], "sandbox": sandbox, "limits": LIMITS, "debug_rounds": 1, "reflections": 1}
    MetaAgentSearch(task, whole, Scripted(by_content), AGENT, **options).run(generations=5)

    script = KILLED_RUN.format(here=str(HERE), path=str(resumed))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(design_lines(resumed)) == 3  # the seed and two generations were durable before the kill
    with resumed.open("a") as fh:
        fh.write('{"type": "design", "design": {"name": "torn')  # a write cut short by the crash

    result = MetaAgentSearch(task, resumed, Scripted(by_content), AGENT, **options).run(generations=5)
    assert design_lines(resumed) == design_lines(whole)
    assert len(design_lines(whole)) == 6
    assert result.best.id == Archive(whole).best().id


def test_the_reported_number_is_the_validation_best_designs_test_score(sandbox):
    validation = [{"input": f"Ana has {n} apples.", "target": str(n)} for n in range(1, 7)]
    test = [{"input": f"Ben has {n} coins.", "target": str(n)} for n in range(11, 17)]
    task = SearchTask("count", "Say how many.", validation, test, score=numeric)
    answers = {ex["input"]: ex["target"] for ex in validation}
    overfit = f"ANSWERS = {answers!r}\n\n\ndef forward(task):\n    return ANSWERS.get(task, '0')\n"
    general = VERIFY.replace("    return llm", "    if 'has 1 ' in task:\n        return '0'\n    return llm")
    seeds = [Design("general", "solve", general), Design("overfit", "memorize", overfit)]
    search = MetaAgentSearch(task, None, Scripted([]), AGENT, seeds=seeds, sandbox=sandbox, limits=LIMITS)
    result = search.run(generations=0)

    general_test, _ = search.score(search.archive[0], "test")
    assert general_test.median == 1.0  # the better test score exists in the archive ...
    assert result.best.name == "overfit" and result.validation.median == 1.0
    assert result.test.median == 0.0  # ... but the number reported is the chosen design's test score
    final = [r for r in search.archive.records if r["type"] == "final"]
    assert final and final[-1]["name"] == "overfit" and final[-1]["test"]["median"] == 0.0


def test_seeds_are_not_evaluated_twice_on_resume(task, sandbox, tmp_path):
    path = tmp_path / "a.jsonl"
    MetaAgentSearch(task, path, Scripted([]), AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS).run(0)
    again = MetaAgentSearch(task, path, Scripted([]), AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS)
    again.run(0)
    assert [d.name for d in Archive(path)] == ["plain"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_archive_file_is_readable_line_by_line(task, sandbox, tmp_path):
    path = tmp_path / "a.jsonl"
    meta = Scripted(meta_responder([design_reply("v", VERIFY)]))
    MetaAgentSearch(task, path, meta, AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS).run(1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["type"] for r in rows] == ["design", "design", "final"]
    assert rows[1]["design"]["fitness"]["median"] == 1.0 and rows[1]["design"]["parents"] == [0]


def test_an_unreachable_model_stops_the_search_without_archiving_anything(task, sandbox, tmp_path):
    from backprose.errors import AgentLLMFailed, CacheMiss
    from backprose.llm import Replay

    empty = tmp_path / "nothing.jsonl"
    empty.write_text("")
    path = tmp_path / "a.jsonl"
    search = MetaAgentSearch(task, path, Replay({}), {"kind": "replay", "path": str(empty)}, seeds=[plain_seed()],
                             sandbox=sandbox, limits=LIMITS)
    with pytest.raises(AgentLLMFailed, match="not at fault"):
        search.run(1)
    assert not path.exists() or Archive(path).designs == []

    MetaAgentSearch(task, path, Replay({}), AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS).run(0)
    with pytest.raises(CacheMiss):
        MetaAgentSearch(task, path, Replay({}), AGENT, seeds=[plain_seed()], sandbox=sandbox, limits=LIMITS).run(1)
    assert [d.name for d in Archive(path)] == ["plain"]
