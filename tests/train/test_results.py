"""Per-example results: the trainer saves what the starting and the final program answered on validation
(from the rollouts it ran, no model call of its own), and `Trainer.evaluate` scores a held-out test set once."""

from __future__ import annotations

import json
import re

import pytest
from train_programs import Multiplier, triples

import backprose as bp
from backprose.errors import CheckpointError
from backprose.train import ScriptedOptimizer, Trainer, train
from backprose.train.results import read_results


def adder(calls: list[str]):
    """A model that adds, in a sentence unless the system prompt asks for the number only; it logs each call."""

    def answer(messages):
        calls.append(messages[-1]["content"])
        a, b = (int(w) for w in re.findall(r"\d+", messages[-1]["content"]))
        return str(a + b) if "number only" in messages[0]["content"] else f"The sum is {a + b}."

    return bp.llm.Scripted(answer)


class Adder(bp.Module):
    def __init__(self, llm):
        self.llm = llm
        self.system = bp.param("Add the two numbers.", name="system", description="system prompt")

    def __call__(self, question):
        return bp.call_llm(question, system=self.system, llm=self.llm)


def sums(pairs):
    return [{"id": f"q{a}+{b}", "input": f"What is {a} plus {b}?", "target": a + b} for a, b in pairs]


TRAIN, VAL, TEST = sums([(1, 1), (2, 3), (4, 1)]), sums([(5, 5), (6, 2), (7, 3)]), sums([(8, 1), (9, 9)])
FIX = [{"system": "Add the two numbers. Reply with the number only."}]


def test_validation_results_of_the_start_and_final_program_are_saved_after_a_run(tmp_path):
    result = train(Multiplier(), triples(4), triples(3, start=10), "numeric", lambda ps: ScriptedOptimizer(
        ps, [{"k": 3}]), steps=1, batch_size=2, run_dir=tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "val_results.json").read_text())
    assert saved["split"] == "validation" and saved["scores"] == {"start": 0.0, "final": 1.0}
    assert [e["input"] for e in saved["examples"]] == [10, 11, 12]
    assert [e["target"] for e in saved["examples"]] == [30, 33, 36]
    assert [e["id"] for e in saved["examples"]] == ["0", "1", "2"]
    assert [e["start"]["output"] for e in saved["examples"]] == ["10", "11", "12"]
    assert [e["final"]["output"] for e in saved["examples"]] == ["30", "33", "36"]
    assert [e["start"]["score"] for e in saved["examples"]] == [0, 0, 0]
    assert saved["examples"][0]["start"]["feedback"] == "Wrong number: expected 30, got 10."
    assert saved["examples"][0]["final"]["feedback"] == "Correct."
    assert saved == result.validation.as_dict()
    assert saved["states"]["start"] != saved["states"]["final"]


def test_saving_validation_results_asks_the_model_nothing(tmp_path):
    calls: list[str] = []
    program = Adder(adder(calls))
    result = train(program, TRAIN, VAL, "numeric", lambda ps: ScriptedOptimizer(ps, FIX), steps=1, batch_size=3,
                   run_dir=tmp_path / "run")
    assert result.final_val == 1.0
    # start on val (3) + traced minibatch (3) + candidate on the minibatch (3) + candidate on val (3)
    assert len(calls) == 12
    examples = result.validation.examples
    assert [e["start"]["output"] for e in examples] == ["The sum is 10.", "The sum is 8.", "The sum is 10."]
    assert [e["final"]["output"] for e in examples] == ["10", "8", "10"]
    assert [e["input"] for e in examples] == [v["input"] for v in VAL]


def test_resume_keeps_the_starting_program_of_the_first_run(tmp_path):
    run = tmp_path / "run"
    train(Multiplier(), triples(4), triples(2, start=10), "numeric", lambda ps: ScriptedOptimizer(ps, [{"k": 3}]),
          steps=1, batch_size=2, run_dir=run)
    # resumed with more steps, by a program built with another k: the start is still the first run's k=1
    again = Trainer(Multiplier(k=7), triples(4), triples(2, start=10), "numeric",
                    lambda ps: ScriptedOptimizer(ps, [{"k": 3}, {"k": 5}]), steps=2, batch_size=2, run_dir=run)
    result = again.fit(resume=True)
    assert len(result.history) == 2
    saved = read_results(run, "validation")
    assert saved["scores"] == {"start": 0.0, "final": 1.0}
    assert [e["start"]["output"] for e in saved["examples"]] == ["10", "11"]
    assert [e["final"]["output"] for e in saved["examples"]] == ["30", "33"]


def test_evaluate_scores_start_and_final_on_test_once_and_writes_the_file(tmp_path):
    calls: list[str] = []
    program = Adder(adder(calls))
    trainer = Trainer(program, TRAIN, VAL, "numeric", lambda ps: ScriptedOptimizer(ps, FIX), steps=1,
                      batch_size=3, run_dir=tmp_path / "run")
    with pytest.raises(CheckpointError, match=r"call fit\(\) before evaluate\(\)"):
        trainer.evaluate(TEST)
    assert calls == []
    trainer.fit()
    history = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["history"]
    before = len(calls)
    results = trainer.evaluate(TEST)
    assert len(calls) - before == 4  # two programs, two test examples
    assert results.scores == {"start": 0.0, "final": 1.0} and (results.before, results.after) == (0.0, 1.0)
    assert results.spent["calls"] == 4
    assert "test: 0.000 -> 1.000 on 2 examples" in repr(results)
    saved = read_results(tmp_path / "run", "test")
    assert saved == results.as_dict()
    assert [e["id"] for e in saved["examples"]] == ["q8+1", "q9+9"]
    assert [e["final"]["output"] for e in saved["examples"]] == ["9", "18"]
    assert [e["start"]["feedback"] for e in saved["examples"]][0].startswith("Wrong")
    # scored once: asking again runs nothing, and the run's own record is untouched
    assert trainer.evaluate(TEST).spent["calls"] == 0 and len(calls) - before == 4
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["history"] == history


def test_evaluate_without_a_run_folder_returns_the_results_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(Multiplier(), triples(4), triples(2, start=10), "numeric",
                      lambda ps: ScriptedOptimizer(ps, [{"k": 3}]), steps=1, batch_size=2)
    trainer.fit()
    results = trainer.evaluate(triples(3, start=50))
    assert results.scores == {"start": 0.0, "final": 1.0}
    assert [e["final"]["output"] for e in results.examples] == ["150", "153", "156"]
    assert list(tmp_path.iterdir()) == []


def test_unserializable_inputs_are_saved_as_their_repr(tmp_path):
    class Point:
        def __init__(self, x):
            self.x = x

        def __repr__(self):
            return f"Point({self.x})"

    @bp.bundle()
    def scale(p, k):
        return p.x * k

    class Scaler(bp.Module):
        def __init__(self):
            self.k = bp.param(1, name="k", description="the multiplier")

        def __call__(self, p):
            return scale(p, self.k)

    data = [(Point(i), 3 * i) for i in range(1, 4)]
    train(Scaler(), data, data, "numeric", lambda ps: ScriptedOptimizer(ps, [{"k": 3}]), steps=1, batch_size=2,
          run_dir=tmp_path / "run")
    saved = read_results(tmp_path / "run", "validation")
    assert [e["input"] for e in saved["examples"]] == ["Point(1)", "Point(2)", "Point(3)"]
