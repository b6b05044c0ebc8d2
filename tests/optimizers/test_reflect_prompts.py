"""Reflect on a prompt (text a model reads): asked for as the model's instructions, without the reply's length limit."""

from __future__ import annotations

import json

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers.reflect import Reflect, as_commands, examples_for, is_prompt

QUESTIONS = ["How many apples are in 3 bags of 4?", "What is 9 minus 4?"]
DESCRIPTION = "the system prompt of the one model call that answers each input"


def answered(*, program_options=None, **call_options):
    """The natural program, `call_llm(question, system=instruction)`, run on two questions and graded 0."""
    p = bp.param("Answer.", name="instruction", description=DESCRIPTION, constraint="one or two sentences")
    program = Scripted(lambda messages: "The answer is 12 items.", options=program_options)
    outs = [bp.call_llm(bp.Node(q, name="question"), system=p, llm=program, **call_options) for q in QUESTIONS]
    bp.backward(outs, ["Score: 0. Give only the number."] * len(outs))
    return p


def asked(p, *replies):
    llm = Scripted([json.dumps({"diagnosis": "it wrote a sentence", "instruction": r}) for r in replies])
    update = Reflect([p], llm=llm).step()
    return update, llm.prompts


def test_a_prompt_is_asked_for_as_the_models_instructions_without_the_parameter_vocabulary():
    p = answered()
    assert is_prompt(p, examples_for(p))
    update, prompts = asked(p, "Reply with only the number.")
    system, user = prompts[0][0]["content"], prompts[0][1]["content"]
    assert system.startswith("You write the instructions that a language model follows")
    assert 'The model\'s instructions now:\n"""\nAnswer.\n"""' in user
    assert all(q in user for q in QUESTIONS) and "Give only the number." in user
    for word in (DESCRIPTION, "`instruction`", "parameter", "Its current value"):  # what a 1.5B model echoed
        assert word not in system + user, word
    assert "The new instructions must be: one or two sentences" in user  # a constraint still binds
    assert user.endswith('"instruction": "<the new instructions, word for word as the model will read them>"}')
    assert "tokens long" not in user  # no limit was set, so none is claimed
    assert update.changed and p.value == "Reply with only the number."


def test_a_rewrite_that_talks_about_the_prompt_is_still_refused():
    p = answered()
    update, prompts = asked(p, "The system prompt should ask for only the number.",
                            "The system prompt should be shorter.")
    assert not update.changed and p.value == "Answer."
    retry = prompts[1][-1]["content"]  # the retry says why in the request's own terms, never "parameter"
    assert "the new instructions speak about the model or its instructions ('The system prompt should') instead" \
        in retry and "parameter" not in retry


def test_a_prompts_request_never_states_the_token_limit_and_a_number_feeding_the_call_gets_it():
    """Told of the limit, the 1.5B optimizer model asked the model to "continue without stopping at its token
    limit", which no instruction can make it do; a prompt's request leaves it out. A parameter of another kind
    that feeds the call still reads it, from the call's options or else the client's defaults."""
    for p in (answered(max_tokens=96), answered(program_options={"max_tokens": 96})):
        _, prompts = asked(p, "Reply with only the number.")
        assert "tokens" not in prompts[0][1]["content"] and [e.limit for e in examples_for(p)] == [96, 96]
    p = answered(program_options={"max_tokens": 400}, max_tokens=40)  # the call's own option wins
    assert [e.limit for e in examples_for(p)] == [40, 40]
    words = bp.param(30, name="words", description="how many words a reply may have")
    ask = bp.bundle()(lambda question, n: f"{question} Answer in at most {n} words.")
    program = Scripted(lambda messages: "Twelve.", options={"max_tokens": 96})
    outs = [bp.call_llm(ask(bp.Node(q, name="question"), words), llm=program) for q in QUESTIONS]
    bp.backward(outs, ["Score: 0. Give only the number."] * len(outs))
    llm = Scripted([json.dumps({"diagnosis": "too many words", "words": 5})])
    Reflect([words], llm=llm).step()
    assert "may reply with at most 96 tokens (about 72 words)" in llm.prompts[0][1]["content"]


def test_text_that_reaches_no_model_call_keeps_the_parameter_framing():
    p = bp.param("Dear", name="salutation", description="the word that opens each letter")
    outs = [bp.bundle()(lambda s, n: f"{s} {n},")(p, bp.Node(n, name="who")) for n in ("Ann", "Bo")]
    bp.backward(outs, ["Score: 0. Too stiff for a friend."] * 2)
    assert not is_prompt(p, examples_for(p))
    llm = Scripted([json.dumps({"diagnosis": "stiff", "salutation": "Hi"})])
    Reflect([p], llm=llm).step()
    system, user = llm.prompts[0][0]["content"], llm.prompts[0][1]["content"]
    assert system.startswith("You improve one parameter")
    assert "`salutation` (text) is: the word that opens each letter" in user and "tokens" not in user


def test_refused_instructions_are_listed_as_instructions():
    p = answered()
    opt = Reflect([p], llm=Scripted([json.dumps({"diagnosis": "d", "instruction": "Be terse."})]))
    opt.record_refusal(bp.optimizers.Update([bp.optimizers.Change(p, "Answer.", "Say less.", True)]),
                       "not better on the minibatch (0.000 <= 0.000)")
    user = opt.messages(p)[1]["content"]
    assert ('Instructions tried before that did not help, so the model kept its current ones (do not propose '
            'these again):\n- """Say less.""" (not better on the minibatch (0.000 <= 0.000))') in user


def test_sentences_about_the_model_become_the_commands_they_describe():
    assert as_commands("The model should answer with only the number.") == "Answer with only the number."
    assert as_commands("Read it. The model must not explain.") == "Read it. Do not explain."
    assert as_commands("The model should find the date. Then the model should pick.") == "Find the date. Then pick."
    assert as_commands("1. The model should read.\n2. the model needs to answer.") == "1. Read.\n2. Answer."
    assert as_commands("If unsure, the model must not guess.") == "If unsure, do not guess."
    for kept in ("You should answer.", "Say what the model sees.", "Answer with the letter."):
        assert as_commands(kept) == kept


def test_a_prompt_written_about_the_model_is_adopted_as_commands_and_other_text_is_not_rewritten():
    p = answered()
    update, prompts = asked(p, "The model should reply with only the number. It must not add words.")
    assert len(prompts) == 1 and update.changed
    assert p.value == "Reply with only the number. It must not add words."
    assert "(its sentences about the model were taken as commands)" in update.reasoning  # said, not silent
    update, _ = asked(p, "The system prompt should ask for the number.", "The system prompt should be short.")
    assert not update.changed  # only sentences about the model are turned; talk about the prompt is refused
    q = bp.param("Dear", name="salutation", description="the word that opens each letter")
    out = bp.bundle()(lambda s: f"{s} Ann,")(q)
    out.backward("Score: 0. Too stiff.")
    llm = Scripted([json.dumps({"diagnosis": "d", "salutation": "The model should say hi."})] * 2)
    assert not Reflect([q], llm=llm).step().changed and q.value == "Dear"  # not a prompt: refused, not turned


def test_a_rewrite_that_repeats_the_requests_own_words_is_sent_back():
    p = answered(max_tokens=96)
    echoed = "Answer the question. The model answered 4 inputs and each result was graded."
    update, prompts = asked(p, echoed, "Reply with the option letter and the date; keep under 70 words.")
    assert "repeats this request's own words (' inputs and each result was graded')" in prompts[1][-1]["content"]
    assert update.changed and p.value == "Reply with the option letter and the date; keep under 70 words."


def test_a_rewrite_that_speaks_of_the_optimizers_own_reply_is_sent_back():
    p = answered()
    leaked = "Always give a complete JSON object with the keys 'diagnosis' and 'instruction'."
    update, prompts = asked(p, leaked, "Reply with only the number.")
    assert "speaks of the reply you write here (its 'diagnosis' key)" in prompts[1][-1]["content"]
    assert update.changed and p.value == "Reply with only the number."
    q = answered()  # a task whose own inputs speak of a diagnosis may name it
    question = next(n for n in q.feedback[0].output.parents if n.name == "question")
    question._value = "Which diagnosis fits a fever and a rash?"
    update, _ = asked(q, "Name the one diagnosis that fits, then stop.")
    assert update.changed and q.value == "Name the one diagnosis that fits, then stop."
