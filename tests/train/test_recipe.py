"""The default recipe of `bp.train`: worked examples and exploring rewrites, on a Pareto pool."""

import json
import logging
import re

import pytest
from recipe_programs import GOOD, Solver, by_angle, small_model, sums, teacher, unlabeled

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers import Recipe
from backprose.report import write_report
from backprose.train import Budget, Pareto, Trainer

TRAIN = sums(1, 4)  # 8 examples; the program already answers the two "1 plus" ones with the number
VAL = sums(5, 3)


def test_train_without_an_optimizer_runs_the_recipe_and_learns_from_its_own_full_marks_runs():
    program = Solver(Scripted(small_model))
    optimizer_llm = Scripted(teacher(["Add the numbers carefully."]))  # its rewrites never help
    trainer = Trainer(program, TRAIN, VAL, "numeric", steps=3, batch_size=4, seed=1,
                      **unlabeled(program, optimizer_llm))
    result = trainer.fit()
    assert result.initial_val == 0.0 and result.final_val == 1.0
    demo = program.demos.value[0]
    a, b = (int(x) for x in re.findall(r"\d+", demo["input"]))
    assert a == 1 and demo["reply"] == str(a + b)  # a real full-marks run: its input, the number the model gave
    assert program.instruction.value == "Add the numbers."


def test_the_default_recipe_also_takes_a_missed_examples_target_as_a_worked_example():
    program = Solver(Scripted(small_model))
    optimizer_llm = Scripted(teacher(["Add the numbers carefully."]))
    trainer = Trainer(program, TRAIN, VAL, "numeric", optimizer_llm=optimizer_llm, steps=3, batch_size=4, seed=1)
    assert isinstance(trainer.optimizer, Recipe) and isinstance(trainer.strategy, Pareto)
    assert trainer.fit().final_val == 1.0
    sums_shown = [tuple(int(x) for x in re.findall(r"\d+", d["input"])) for d in program.demos.value]
    assert all(d["reply"] == str(a + b) for d, (a, b) in zip(program.demos.value, sums_shown, strict=True))
    assert any(a != 1 for a, _ in sums_shown)  # the model never answers those with the number: a target
    assert any(a == 1 for a, _ in sums_shown)  # its own full-marks run is kept beside them


def test_bp_train_with_no_optimizer_uses_the_recipe_on_the_given_model():
    program = Solver(Scripted(small_model))
    optimizer_llm = Scripted(teacher([GOOD]))
    result = bp.train(program, TRAIN, VAL, "numeric", optimizer_llm=optimizer_llm, steps=2, batch_size=4, seed=3)
    assert result.final_val == 1.0 and optimizer_llm.prompts  # the teacher was asked


def test_an_explicit_optimizer_path_is_unchanged_and_refuses_optimizer_llm():
    program = Solver(Scripted(small_model))
    opt = bp.optimizers.Reflect(program.parameters(), llm=Scripted(teacher([GOOD])))
    trainer = Trainer(program, TRAIN, VAL, "numeric", opt, steps=1)
    assert trainer.optimizer is opt and trainer.strategy.name == "best_of_n"
    with pytest.raises(bp.errors.InvalidOption, match="optimizer_llm"):
        Trainer(program, TRAIN, VAL, "numeric", opt, optimizer_llm=Scripted(["x"]))


def test_the_recipe_falls_back_on_the_programs_own_model():
    llm = Scripted(small_model)
    program = Solver(llm)
    assert Trainer(program, TRAIN, VAL, "numeric").optimizer.llm is llm


def test_a_proposal_that_repeats_a_refused_value_is_not_raced_again(caplog):
    """The teacher keeps writing one unhelpful instruction: refused once, it is never run on examples again."""
    calls = []

    def program_model(messages):
        calls.append(messages[0]["content"])
        return small_model(messages)

    program = Solver(Scripted(program_model))
    optimizer_llm = Scripted(teacher(["Add the numbers carefully."]))
    with caplog.at_level(logging.INFO, logger="backprose"):
        bp.train(program, sums(2, 3), VAL, "numeric", steps=4, batch_size=2, seed=0,
                 **unlabeled(program, optimizer_llm))
    assert 0 < calls.count("Add the numbers carefully.") <= 2  # raced on one minibatch's misses, never again
    assert "exploring retry" in caplog.text and "already tried and refused" in caplog.text


def test_the_call_budget_holds_with_the_recipe():
    program = Solver(Scripted(small_model))
    optimizer_llm = Scripted(teacher(["Add the numbers carefully.", GOOD]))
    result = bp.train(program, TRAIN, VAL, "numeric", optimizer_llm=optimizer_llm, steps=10, batch_size=4,
                      budget=Budget(calls=20))
    assert result.spent["calls"] <= 20 and "budget" in result.stopped


def test_when_the_optimizer_models_own_budget_is_spent_worked_examples_still_come(caplog):
    """A capped optimizer client refuses every request: the run still learns from its full-marks runs."""

    def capped(messages):
        raise bp.errors.CallBudgetExhausted(0)

    program = Solver(Scripted(small_model))
    with caplog.at_level(logging.WARNING, logger="backprose"):
        result = bp.train(program, TRAIN, VAL, "numeric", optimizer_llm=Scripted(capped), steps=3, batch_size=4,
                          seed=1)
    assert result.final_val == 1.0 and program.demos.value  # learned from worked examples alone
    assert program.instruction.value == "Add the numbers."
    assert "offering the worked examples alone" in caplog.text


def test_no_feedback_still_warns_with_the_recipe():
    class Escaping(Solver):
        def __call__(self, question):
            return bp.call_llm(f"{self.instruction}\n{question}", llm=self.llm)

    program = Escaping(Scripted(small_model))
    with pytest.warns(bp.errors.NoFeedbackWarning):
        bp.train(program, sums(2, 2), VAL, "numeric", optimizer_llm=Scripted(teacher([GOOD])), steps=1, batch_size=2)


def test_resume_continues_a_recipe_run_exactly(tmp_path):
    """A run stopped after two steps and resumed ends where one uninterrupted run ends, asking the same
    questions: the exploring state (which angle comes next) is in the checkpoint."""
    def run(run_dir, steps, resume=False):
        program, llm = Solver(Scripted(small_model)), Scripted(by_angle)
        result = Trainer(program, sums(2, 4), VAL, "numeric", steps=steps, batch_size=2, seed=5, run_dir=run_dir,
                         **unlabeled(program, llm)).fit(resume=resume)
        return result, program, llm

    whole, whole_program, whole_llm = run(tmp_path / "whole", 4)
    _, _, first_llm = run(tmp_path / "parts", 2)
    ck = json.loads((tmp_path / "parts" / "checkpoint.json").read_text())
    assert ck["optimizer"]["rewriter"]["explore"]["misses"]  # the exploring state is saved
    rest, rest_program, rest_llm = run(tmp_path / "parts", 4, resume=True)
    assert whole_program.instruction.value == GOOD  # found from the format angle, after misses
    assert rest_program.state_dict() == whole_program.state_dict()
    assert [h["reason"] for h in rest.history] == [h["reason"] for h in whole.history]
    assert first_llm.prompts + rest_llm.prompts == whole_llm.prompts


def test_an_agents_worked_examples_are_trained_too_with_the_question_as_their_input():
    agent = bp.Agent("You add numbers.", "Add the numbers.", llm=Scripted(small_model), name="adder", demos=[])
    result = bp.train(agent, TRAIN, VAL, "numeric", optimizer_llm=Scripted(teacher(["Add the numbers carefully."])),
                      steps=3, batch_size=4, seed=1)
    assert result.final_val == 1.0
    assert agent.demos.value and all(d["input"].startswith("What is ") for d in agent.demos.value)  # no instructions
    assert all(d["reply"] == str(sum(int(x) for x in re.findall(r"\d+", d["input"]))) for d in agent.demos.value)


def test_each_step_offers_the_examples_the_rewrite_and_both():
    program = Solver(Scripted(small_model))
    outs = [program(q) for q, _ in TRAIN[:3]]  # "1 plus 1" and "1 plus 2" are right, "2 plus 1" is not
    bp.backward(outs, ["Score: 1. Correct.", "Score: 1. Correct.", "Score: 0. Expected 3."],
                inputs=[q for q, _ in TRAIN[:3]])
    recipe = Recipe(program.parameters(), Scripted(teacher([GOOD])))
    examples, rewrite, both = recipe.propose()
    assert list(examples.values) == [program.demos] and list(rewrite.values) == [program.instruction]
    assert both.values == {**rewrite.values, **examples.values} and len(examples.values[program.demos]) == 2


class Killed(Exception):
    """Stands for the process dying inside a model call."""


def test_a_run_killed_inside_a_rewrite_resumes_to_the_same_end(tmp_path):
    def run(run_dir, die_at=None, resume=False):
        asked = []

        def model(messages):
            asked.append(messages[-1]["content"])
            if len(asked) == die_at:
                raise Killed
            return by_angle(messages)

        program, llm = Solver(Scripted(small_model)), Scripted(model)
        trainer = Trainer(program, sums(2, 4), VAL, "numeric", steps=4, batch_size=2, seed=5, run_dir=run_dir,
                          **unlabeled(program, llm))
        try:
            trainer.fit(resume=resume)
        except Killed:
            pass
        return program, asked

    whole, whole_asked = run(tmp_path / "whole")
    assert len(whole_asked) == 3 and whole.instruction.value == GOOD
    _, before = run(tmp_path / "killed", die_at=2)  # inside the second step's rewrite
    after, after_asked = run(tmp_path / "killed", resume=True)
    assert after.state_dict() == whole.state_dict()
    assert before[:1] + after_asked == whole_asked  # the lost request is asked again, from the same angle


def test_a_refused_step_is_remembered_and_logged_by_the_recipe_and_only_a_rewrite_makes_the_next_explore(caplog):
    """Refusing the worked examples alone is the recipe's to report, and says nothing to the rewriter: its next
    request is the plain one. Refusing a rewrite makes its next request explore."""
    program = Solver(Scripted(small_model))
    outs = [program(q) for q, _ in TRAIN[:3]]
    bp.backward(outs, ["Score: 1. Correct.", "Score: 1. Correct.", "Score: 0. Expected 3."],
                inputs=[q for q, _ in TRAIN[:3]])
    recipe = Recipe(program.parameters(), Scripted(teacher([GOOD])))
    examples, rewrite, _ = recipe.propose()
    with caplog.at_level(logging.INFO, logger="backprose"):
        recipe.record_refusal(recipe.apply(examples), "lowers the validation score")
    assert "Recipe: the trainer refused the value of demos" in caplog.text and "Reflect:" not in caplog.text
    assert recipe.refused["demos"][-1]["reason"] == "lowers the validation score"
    assert recipe.rewriter.explore.misses == {}
    recipe.record_refusal(recipe.apply(rewrite), "not better on the minibatch")
    assert recipe.rewriter.explore.misses == {"instruction": 1} and recipe.rewriter.refused["instruction"]


def test_a_candidate_that_loses_the_race_is_recorded_with_its_values_and_reaches_the_report(tmp_path, caplog):
    """The rewrite here fixes nothing: it loses on the minibatch's misses and the worked examples win. Its value
    is in no update, so the step's record (and its event, and the report) must carry it."""
    program = Solver(Scripted(small_model))
    trainer = Trainer(program, TRAIN, VAL, "numeric", optimizer_llm=Scripted(teacher(["Add the numbers slowly."])),
                      steps=1, batch_size=4, seed=1, run_dir=tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="backprose"):
        [step] = trainer.fit().history
    assert step["accepted"] and [c["name"] for c in step["update"]["changes"]] == ["demos"]
    rewrite, both = step["tried"]
    assert rewrite["changes"] == [{"name": "instruction", "old": "Add the numbers.", "new": "Add the numbers slowly."}]
    assert rewrite["ran"] == 3 and rewrite["scored"] == 0  # the three misses ran first, and it fixed none
    assert {c["name"] for c in both["changes"]} == {"instruction", "demos"}
    assert "step 0: a candidate changing instruction was not chosen (it scored 0 on the 3 minibatch" in caplog.text
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "step"][0]["tried"] == step["tried"]
    page = write_report(tmp_path / "run").read_text()
    assert "2 other candidate(s) this step, not chosen" in page
    assert "<del>numbers.</del> <ins>numbers slowly.</ins>" in page
