"""Labeled worked examples: a missed run whose example's target the guide accepts becomes (input, target)."""

import logging

import pytest

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers.demos import Demos

TRAIN = [{"input": f"{a}+{a}?", "target": str(2 * a), "id": f"t{a}"} for a in (1, 2, 3, 4)]
VAL = [{"input": f"{a}+{a}?", "target": str(2 * a), "id": f"v{a}"} for a in (5, 6, 7, 8)]


def few_shot_learner(messages):
    """Answers in the target's format only after it has seen one worked example (an earlier assistant turn);
    alone it rambles, as a small model does."""
    a = int(messages[-1]["content"].split("+")[0])
    shown = any(m["role"] == "assistant" for m in messages[:-1])
    return str(2 * a) if shown else f"Let me think about {a} plus {a} step by step"


class Solver(bp.Module):
    def __init__(self, llm):
        self.llm = llm
        self.instruction = bp.param("Add.", name="instruction")
        self.demos = bp.param([], name="demos")

    def __call__(self, question):
        return bp.call_llm(question, system=self.instruction, demos=self.demos, llm=self.llm)


def test_a_missed_run_with_a_reference_becomes_a_labeled_example_and_a_full_marks_run_keeps_its_own_reply():
    program = Solver(Scripted(lambda m: "4 (two and two)" if m[-1]["content"] == "2+2?" else "11"))
    outs = [program(q) for q in ("5+5?", "2+2?")]
    bp.backward(outs, ["Score: 0. Wrong.", "Score: 1. Correct."], inputs=["5+5?", "2+2?"], references=["10", None])
    [proposal] = Demos(program.parameters()).propose()
    assert proposal.values[program.demos] == [{"input": "5+5?", "reply": "10"},
                                              {"input": "2+2?", "reply": "4 (two and two)"}]
    assert proposal.reasoning == ("demos: keep as worked examples the input and reply of 1 run(s) that scored full "
                                  "marks and 1 missed (or cut) input(s) with the target the guide accepts as the reply")


def test_a_labeled_example_is_not_banked_as_if_it_were_a_run_of_the_model():
    program = Solver(Scripted(lambda m: "11"))
    out = program("5+5?")
    bp.backward([out], ["Score: 0. Wrong."], inputs=["5+5?"], references=["10"])
    opt = Demos(program.parameters())
    [proposal] = opt.propose()
    assert proposal.values[program.demos] == [{"input": "5+5?", "reply": "10"}]
    assert opt.bank == {"demos": []}


def test_without_references_a_minibatch_with_no_full_marks_run_gives_nothing():
    program = Solver(Scripted(lambda m: "11"))
    out = program("5+5?")
    bp.backward([out], ["Score: 0. Wrong."], inputs=["5+5?"])
    assert Demos(program.parameters()).propose() == []


def test_a_reference_is_no_reply_for_a_call_in_the_middle_of_the_program():
    llm = Scripted(lambda messages: "draft" if messages[0]["content"] == "First." else "final")
    first = bp.Agent("First.", "Solve.", llm=llm, name="first", demos=[])
    second = bp.Agent("Second.", "Polish.", llm=llm, name="second", demos=[])
    out = second(first("5+5?"))
    bp.backward([out], ["Score: 0. Wrong."], inputs=["5+5?"], references=["10"])
    opt = Demos([*first.parameters(), *second.parameters()])
    [proposal] = opt.propose()
    assert first.demos not in proposal.values  # its reply is a draft, not the answer
    assert proposal.values[second.demos] == [{"input": "draft", "reply": "10"}]


def test_backward_refuses_references_that_do_not_match_the_outputs():
    program = Solver(Scripted(lambda m: "11"))
    out = program("5+5?")
    with pytest.raises(ValueError, match="references"):
        bp.backward([out], ["Score: 0."], references=["10", "12"])


def test_training_from_zero_reaches_full_marks_on_validation_with_labeled_examples_alone():
    llm = Scripted(few_shot_learner)
    program = Solver(llm)
    result = bp.train(program, TRAIN, VAL, "exact_match", Demos(program.parameters(), k=2), steps=2, seed=0)
    assert result.initial_val == 0.0
    assert result.final_val == 1.0
    train_pairs = {(ex["input"], ex["target"]) for ex in TRAIN}
    assert program.demos.value and {(d["input"], d["reply"]) for d in program.demos.value} <= train_pairs


def test_a_target_the_guide_refuses_is_never_offered_and_the_guide_judges_each_target_once():
    seen = []

    def needs_prefix(output, example):  # the target alone lacks the format the guide asks for
        seen.append(str(output))
        return (1.0, "ok") if str(output) == f"Answer: {example.target}" else (0.0, "Reply 'Answer: <n>'.")

    program = Solver(Scripted(few_shot_learner))
    result = bp.train(program, TRAIN, VAL, needs_prefix, Demos(program.parameters()), steps=3, seed=0)
    assert program.demos.value == [] and result.final_val == 0.0
    targets = [t for t in seen if t.isdigit()]  # the guide was asked about each bare target
    assert targets and len(targets) == len(set(targets))


def test_a_guide_that_cannot_judge_a_bare_target_gives_no_reference_and_says_so(caplog):
    def strict(output, example):
        if str(output).isdigit():
            raise TypeError("expected a program, got a number")
        return 0.0

    program = Solver(Scripted(few_shot_learner))
    with caplog.at_level(logging.INFO, logger="backprose"):
        bp.train(program, TRAIN, VAL, strict, Demos(program.parameters()), steps=1, seed=0)
    assert program.demos.value == []
    assert "no reference reply" in caplog.text and "expected a program" in caplog.text


WIDE_TRAIN = [{"input": f"{a}+{a}?", "target": str(2 * a), "id": f"w{a}"} for a in range(1, 11)]


def train_judging(demos_options):
    """One step on WIDE_TRAIN with an exact-match guide that records the ids of the train targets it judged
    (the program rambles on train, so a bare number judged there is a target)."""
    judged = []

    def exact(output, example):
        judged.append((example.id, str(output)))
        return float(str(output) == example.target)

    program = Solver(Scripted(few_shot_learner))
    result = bp.train(program, WIDE_TRAIN, VAL, exact, Demos(program.parameters(), **demos_options), batch_size=2,
                      steps=1, seed=0)
    return program, result, {i for i, out in judged if i.startswith("w") and out.isdigit()}


def test_a_short_list_is_filled_from_train_examples_outside_the_minibatch_judging_only_what_it_takes():
    program, result, bare = train_judging({"k": 5})
    [step] = result.history
    held = {(d["input"], d["reply"]) for d in program.demos.value}
    assert len(held) == 5 and held <= {(ex["input"], ex["target"]) for ex in WIDE_TRAIN}
    batch = {ex["input"] for ex in WIDE_TRAIN if ex["id"] in step["batch"]}
    assert batch <= {i for i, _ in held}  # the minibatch's own misses, then three from the rest of train
    assert "2 missed (or cut) input(s)" in step["update"]["reasoning"]
    assert "3 training input(s) not run this step" in step["update"]["reasoning"]
    assert len(bare) == 5  # two misses and three drawn: the other five train targets were never judged
    assert result.final_val == 1.0


def test_train_examples_are_drawn_only_as_far_as_the_token_budget_has_room():
    from backprose.optimizers.demos import demo_tokens

    program, result, bare = train_judging({"k": 16, "max_tokens": 40})  # room for three or four examples
    kept = program.demos.value
    assert 3 <= len(kept) <= 4 and demo_tokens(kept) <= 40
    assert len(bare) == len(kept) + 1  # the two misses, those drawn, and the one that did not fit: no more
    assert f"{len(kept) - 2} training input(s) not run this step" in result.history[0]["update"]["reasoning"]


def test_no_train_example_is_offered_when_the_call_does_not_get_the_input_verbatim():
    class Rewrites(Solver):
        def __call__(self, question):
            return bp.call_llm(bp.bundle(name="restate")(lambda q: f"Question: {q}")(question),
                               system=self.instruction, demos=self.demos, llm=self.llm)

    program = Rewrites(Scripted(lambda m: "11"))
    opt = Demos(program.parameters(), k=5)
    result = bp.train(program, WIDE_TRAIN, VAL, "exact_match", opt, batch_size=2, steps=1, seed=0)
    [step] = result.history
    inputs = [d["input"] for d in step["update"]["changes"][0]["new"]]
    assert len(inputs) == 2 and all(i.startswith("Question: ") for i in inputs)  # only the two it ran
    assert "not run this step" not in step["update"]["reasoning"]


def test_worked_examples_keep_the_newest_that_fit_in_their_token_budget():
    from backprose.optimizers.demos import add_demos, demo_tokens

    held = [{"input": "a" * 40, "reply": "1"}, {"input": "b" * 40, "reply": "2"}]  # 10 + 1 + 8 tokens each
    assert demo_tokens(held) == 38
    kept = add_demos(held, [("c" * 40, "3")], k=16, max_tokens=40)
    assert [d["reply"] for d in kept] == ["2", "3"]  # the oldest went first
    huge = add_demos(held, [("d" * 400, "4")], k=16, max_tokens=40)
    assert huge == held  # too long to fit on its own: not added, and it pushes nothing out
    assert add_demos(held, [("c" * 40, "3")], k=16) == [*held, {"input": "c" * 40, "reply": "3"}]


def test_labeled_examples_with_long_inputs_stay_within_the_recipes_token_budget(caplog):
    from backprose.optimizers.demos import demo_tokens

    long_train = [{"input": f"{a}+{a}? " + "Think of apples. " * 80, "target": str(2 * a), "id": f"l{a}"}
                  for a in range(1, 13)]  # about 340 tokens an input: all 12 would take over 4000
    program = Solver(Scripted(lambda m: "wrong"))
    outs = [program(ex["input"]) for ex in long_train]
    bp.backward(outs, ["Score: 0. Wrong."] * len(outs), inputs=[ex["input"] for ex in long_train],
                references=[ex["target"] for ex in long_train])
    teacher = Scripted(lambda m: '{"diagnosis": "d", "instruction": "Add."}')
    with caplog.at_level(logging.INFO, logger="backprose"):
        proposals = bp.optimizers.Recipe(program.parameters(), teacher).propose()
    [kept] = [p.values[program.demos] for p in proposals if set(p.values) == {program.demos}]
    assert 0 < len(kept) < len(long_train) and demo_tokens(kept) <= 2500 < demo_tokens(
        [{"input": ex["input"], "reply": ex["target"]} for ex in long_train[-len(kept) - 1:]])
    assert [(d["input"], d["reply"]) for d in kept] == [(ex["input"], ex["target"]) for ex in long_train][-len(kept):]
    assert "fit in max_tokens=2500" in caplog.text
