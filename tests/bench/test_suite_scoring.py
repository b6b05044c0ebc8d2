"""Each BIG-bench task's own metric, as a guide: the score of known right and wrong answers."""

import pytest

from backprose.data import Example
from backprose.nodes.node import Node
from backprose.train.guides import as_guide
from bench.suite.bigbench import exact_str_match, multiple_choice_example, multiple_choice_grade

WORDS = Example("Sort the following words alphabetically:\nList: stick gelatine apple", "apple gelatine stick")


@pytest.mark.parametrize("output", ["apple gelatine stick", "  apple\ngelatine   stick \n"])
def test_word_sorting_right_answers_score_one(output):
    assert exact_str_match(output, WORDS).score == 1.0


@pytest.mark.parametrize("output", ["apple stick gelatine", "Sorted: apple gelatine stick", "apple gelatine", ""])
def test_word_sorting_wrong_answers_score_zero_and_show_the_expected_words(output):
    judgement = exact_str_match(output, WORDS)
    assert judgement.score == 0.0
    assert "'apple gelatine stick'" in judgement.feedback


@pytest.fixture
def date_question():
    record = {"input": "Yesterday was April 30, 2021. What is the date today in MM/DD/YYYY?",
              "target_scores": {"05/01/2021": 1, "02/23/2021": 0, "03/11/2021": 0, "04/29/2021": 0}}
    return multiple_choice_example(record, "date_understanding")


def letter(example, option):
    return "ABCD"[example.meta["options"].index(option)]


def test_choosing_the_right_option_scores_one_by_letter_or_by_text(date_question):
    right = letter(date_question, "05/01/2021")
    for output in (f"({right})", right, f"{right}.", f"The answer is ({right}) 05/01/2021.", "05/01/2021",
                   f"Answer: {right}", f"So the answer is {right}.",
                   "Yesterday was 04/30/2021, so today is 05/01/2021."):
        judgement = multiple_choice_grade(output, date_question)
        assert (output, judgement.score, judgement.feedback) == (output, 1.0, "Correct.")


def test_choosing_a_wrong_option_scores_zero_and_names_the_answer(date_question):
    right, wrong = letter(date_question, "05/01/2021"), letter(date_question, "04/29/2021")
    for output in (f"({wrong})", wrong, "04/29/2021", f"Not ({right}); it is ({wrong}).",
                   f"05/01/2021 looks likely, but the answer is {wrong}", "Not 05/01/2021 but 04/29/2021."):
        judgement = multiple_choice_grade(output, date_question)
        assert judgement.score == 0.0, output
        assert f"chose ({wrong}) 04/29/2021" in judgement.feedback
        assert f"the answer is ({right}) 05/01/2021" in judgement.feedback


def test_an_answer_naming_no_option_scores_zero(date_question):
    for output in ("I cannot tell.", "The answer is a date.", "", None):
        judgement = multiple_choice_grade(output, date_question)
        assert judgement.score == 0.0 and "No option was chosen" in judgement.feedback, output


def test_navigate_true_false_reads_the_last_word_that_names_an_option():
    ex = multiple_choice_example({"input": "Take 1 step. Turn around. Take 1 step.",
                                  "target_scores": {"True": 1, "False": 0}}, "navigate", "Do you return?")
    assert ex.input.startswith("Do you return?\n\nTake 1 step.")
    assert multiple_choice_grade("True", ex).score == 1.0
    assert multiple_choice_grade("It looks false at first, but the answer is True.", ex).score == 1.0
    assert multiple_choice_grade("False", ex).score == 0.0
    assert multiple_choice_grade("Falsehood", ex).score == 0.0  # a word containing an option is not the option
    assert multiple_choice_grade("true", ex).score == 1.0


def test_a_statement_option_counts_without_its_final_period():
    ex = multiple_choice_example({"input": "Ana, Dan and Mel ran. Dan finished second. Mel finished first.",
                                  "target_scores": {"Ana finished last.": 1, "Dan finished last.": 0,
                                                    "Mel finished last.": 0}}, "logical_deduction")
    assert multiple_choice_grade("Since Mel won and Dan was second, Ana finished last", ex).score == 1.0
    assert multiple_choice_grade("Dan finished  last.", ex).score == 0.0


def test_the_guides_receive_the_plain_value_of_a_node(date_question):
    right = letter(date_question, "05/01/2021")
    assert as_guide(multiple_choice_grade)(Node(f"({right})"), date_question).score == 1.0
    assert as_guide(exact_str_match)(Node("apple gelatine stick"), WORDS).score == 1.0
