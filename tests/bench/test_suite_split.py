"""The split is a function of (task, seed) alone: deterministic, disjoint, of the promised sizes."""

import json

import pytest
from suite_fixtures import humaneval_file, multiple_choice_task, paragraph_task, word_sorting_task

from bench.suite import load_task, split
from bench.suite.bigbench import load


def ids(dataset):
    return [ex.id for ex in dataset]


@pytest.fixture
def mc_file(tmp_path):
    return multiple_choice_task(tmp_path / "task.json")


def test_split_has_the_promised_sizes_and_is_disjoint(tmp_path):
    task = load_task("navigate", 0, path=multiple_choice_task(tmp_path / "big.json", n=150))
    assert (len(task.train), len(task.validation), len(task.test)) == (20, 20, 100)
    parts = [set(ids(task.train)), set(ids(task.validation)), set(ids(task.test))]
    assert sum(map(len, parts)) == len(set().union(*parts)) == 140  # no id in two parts
    inputs = [ex.input for part in (task.train, task.validation, task.test) for ex in part]
    assert len(set(inputs)) == len(inputs)


def test_same_task_and_seed_give_the_same_split_whatever_the_file_order(tmp_path, mc_file):
    first = load_task("navigate", 3, test=30, path=mc_file)
    data = json.loads(mc_file.read_text())
    data["examples"].reverse()
    (tmp_path / "reversed.json").write_text(json.dumps(data))
    again = load_task("navigate", 3, test=30, path=tmp_path / "reversed.json")
    for a, b in ((first.train, again.train), (first.validation, again.validation), (first.test, again.test)):
        assert ids(a) == ids(b)
        assert [ex.input for ex in a] == [ex.input for ex in b]  # options in the same order too


def test_the_split_is_pinned_across_machines(mc_file):
    # A hash-seeded or file-ordered split would change these; they hold on any machine and Python version.
    task = load_task("navigate", 0, test=30, path=mc_file)
    assert ids(task.train)[:3] == PINNED_TRAIN
    assert ids(task.test)[:2] == PINNED_TEST


PINNED_TRAIN = ["navigate-8372dcdda9ff", "navigate-0250d73eadc3", "navigate-161e684043ef"]
PINNED_TEST = ["navigate-a4994609c74b", "navigate-0c4d4936ecb4"]


def test_seed_and_task_both_change_the_split(mc_file):
    base = ids(load_task("navigate", 0, test=30, path=mc_file).train)
    assert ids(load_task("navigate", 1, test=30, path=mc_file).train) != base
    # The same file under another task name: the name seeds the shuffle (and the ids), so the order differs.
    other = [i.split("-", 1)[1] for i in ids(load_task("date_understanding", 0, test=30, path=mc_file).train)]
    assert other != [i.split("-", 1)[1] for i in base]


def test_a_smaller_test_set_is_a_prefix_of_the_larger_one(mc_file):
    full = split(load(mc_file, "navigate"), "navigate", 2)  # test=None: every remaining example
    quick = load_task("navigate", 2, test=10, path=mc_file)
    assert len(full.test) == 30
    assert ids(quick.test) == ids(full.test)[:10]
    assert ids(quick.train) == ids(full.train) and ids(quick.validation) == ids(full.validation)


def test_asking_for_more_than_there_is_is_refused(mc_file):
    with pytest.raises(ValueError, match="too few"):
        load_task("navigate", 0, test=31, path=mc_file)


def test_an_input_that_occurs_twice_is_kept_once(tmp_path, mc_file):
    data = json.loads(mc_file.read_text())
    data["examples"].append(dict(data["examples"][0]))
    (tmp_path / "dup.json").write_text(json.dumps(data))
    assert len(load(tmp_path / "dup.json", "navigate")) == 70


def test_options_are_not_always_listed_in_the_file_order(mc_file):
    # The fixture lists the right option first; the input must not keep that as a giveaway.
    examples = load(mc_file, "navigate")
    firsts = [ex.meta["options"].index(ex.target) for ex in examples]
    assert len(set(firsts)) == 3
    for ex in examples:
        assert ex.target in ex.meta["options"]
        assert all(f"({letter}) {opt}" in ex.input for letter, opt in zip("ABC", ex.meta["options"], strict=True))


def test_word_sorting_and_humaneval_split_the_same_way(tmp_path):
    words = load_task("word_sorting", 0, test=30, path=word_sorting_task(tmp_path / "w.json"))
    assert (len(words.train), len(words.validation), len(words.test)) == (20, 20, 30)
    first = words.test[0]
    assert first.input.startswith("Sort the following words alphabetically:\nList: ")
    assert first.target == " ".join(sorted(first.input.split("List: ")[1].split()))
    code = load_task("humaneval", 0, test=60, path=humaneval_file(tmp_path / "h.jsonl.gz", n=100))
    assert (len(code.train), len(code.validation), len(code.test)) == (20, 20, 60)
    assert len({*ids(code.train), *ids(code.validation), *ids(code.test)}) == 100


def test_the_instruction_is_neutral():
    from bench.suite.bigbench import INSTRUCTIONS
    from bench.suite.humaneval import INSTRUCTION

    for text in [*INSTRUCTIONS.values(), INSTRUCTION]:
        assert "\n" not in text
        assert not any(word in text.lower() for word in ("letter", "exact", "option", "score", "grade", "(a)"))


def test_questions_about_one_paragraph_stay_in_one_part(tmp_path):
    task = load_task("logical_deduction", 0, test=50, path=paragraph_task(tmp_path / "p.json"))
    paragraphs = [{ex.input.split("\n\n")[1].split("\n")[0] for ex in part}
                  for part in (task.train, task.validation, task.test)]
    assert all(a.isdisjoint(b) for a, b in ((paragraphs[0], paragraphs[1]), (paragraphs[0], paragraphs[2]),
                                            (paragraphs[1], paragraphs[2])))
    assert (len(task.train), len(task.validation), len(task.test)) == (21, 21, 51)  # whole groups of three
    assert task.test[0].input.startswith("Each paragraph describes three objects in a fixed order.\n\n")
