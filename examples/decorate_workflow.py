"""Decorate an existing workflow: the pipeline of `support_pipeline_plain.py`, plus a few decorators.

    python examples/decorate_workflow.py                      # live, about 5-10 minutes on the local model
    python examples/decorate_workflow.py --replay examples/replays/decorate_workflow.jsonl   # seconds
    BACKPROSE_BASE_URL=https://api.openai.com/v1 BACKPROSE_MODEL=gpt-4o-mini OPENAI_API_KEY=... \
        python examples/decorate_workflow.py                  # a hosted model

Compared with the plain file, the pipeline section only gains `@bp.bundle()` on each step and one
`bp.param` line that makes the drafting prompt trainable (tests/examples checks that nothing else
changed). Running it builds a graph; each reply is scored (it must quote the right fact, cite its note
and pass the pipeline's own review), the scores' explanations flow backward, and OptoPrime rewrites the prompt.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from _llm import add_llm_args, client

import backprose as bp

# --- pipeline ---------------------------------------------------------------------------------------------
CORPUS = {
    "kettle-capacity": "The Nimbus kettle holds 1.7 litres of water.",
    "kettle-boil": "The Nimbus kettle boils a full load in about 4 minutes.",
    "kettle-safety": "The Nimbus kettle switches off by itself when it boils dry.",
    "warranty": "Every Nimbus appliance has a 2-year warranty from the date of purchase.",
    "returns": "Unused items can be returned within 30 days for a full refund.",
    "shipping": "Orders ship within 2 working days; delivery is free above 50 euros.",
    "descaling": "Descale the kettle every month with white vinegar in hard-water areas.",
    "toaster-slots": "The Nimbus toaster has 4 slots and 7 browning levels.",
}
ANSWER_STYLE = "Answer the customer's question using the notes."
ANSWER_STYLE = bp.param(ANSWER_STYLE, name="answer_style", description="system prompt of the drafting step")
LLM: Any = None  # the model client, set by main()
MAX_WORDS = 20


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9.]+", text.lower()))


@bp.bundle()
def retrieve(question: str, k: int = 2) -> list[str]:
    """The ids of the k notes sharing the most words with the question."""
    asked = words(question)
    return sorted(CORPUS, key=lambda doc: -len(asked & words(CORPUS[doc])))[:k]


@bp.bundle()
def draft(question: str, doc_ids: list[str]) -> str:
    """Ask the model for an answer from the retrieved notes."""
    notes = "\n".join(f"[{doc}] {CORPUS[doc]}" for doc in doc_ids)
    messages = [{"role": "system", "content": f"{ANSWER_STYLE}"},
                {"role": "user", "content": f"Notes:\n{notes}\n\nQuestion: {question}"}]
    return LLM.complete(messages).text.strip()


@bp.bundle()
def check(answer: str, doc_ids: list[str]) -> list[str]:
    """Problems a human reviewer would flag: too long, no fact from the notes, or no citation."""
    problems = []
    if len(answer.split()) > MAX_WORDS:
        problems.append(f"the answer has {len(answer.split())} words; at most {MAX_WORDS} are allowed")
    facts = {w for doc in doc_ids for w in re.findall(r"\d+(?:\.\d+)?", CORPUS[doc])}
    if facts and not facts & set(re.findall(r"\d+(?:\.\d+)?", answer)):
        problems.append("the answer quotes no number from the notes")
    if not any(f"[{doc}]" in answer for doc in doc_ids):
        problems.append("the answer does not cite the note it used by its id in brackets, like [warranty]")
    return problems


@bp.bundle()
def format_reply(answer: str, doc_ids: list[str], problems: list[str]) -> str:
    """The reply sent to the customer, with sources, and a review flag when the check failed."""
    reply = f"{answer}\n(sources: {', '.join(doc_ids)})"
    return reply + (f"\n[needs review: {'; '.join(problems)}]" if problems else "")


def support_reply(question: str) -> Any:
    doc_ids = retrieve(question)
    answer = draft(question, doc_ids)
    problems = check(answer, doc_ids)
    return format_reply(answer, doc_ids, problems)
# --- end pipeline -----------------------------------------------------------------------------------------

EXAMPLES = [("How much water does the Nimbus kettle hold?", "1.7"), ("How long is the warranty?", "2"),
            ("How many slots does the toaster have?", "4")]


def judge(reply: str, fact: str) -> tuple[float, str]:
    """Half a point for quoting the expected fact, half for passing the pipeline's own review."""
    answer = reply.split("\n(sources:")[0]
    has_fact = fact in re.findall(r"\d+(?:\.\d+)?", answer)
    reviewed = "[needs review" not in reply
    notes = [] if has_fact else [f"the answer must state {fact!r}, the figure from the notes"]
    if not reviewed:
        notes.append(reply.split("[needs review: ")[1].rstrip("]"))
    return (has_fact + reviewed) / 2, "Good answer." if not notes else "Wrong: " + "; ".join(notes) + "."


def run(label: str) -> tuple[list[Any], list[str], float]:
    replies = [support_reply(question) for question, _ in EXAMPLES]
    judged = [judge(str(reply.value), fact) for reply, (_, fact) in zip(replies, EXAMPLES, strict=True)]
    score = sum(s for s, _ in judged) / len(judged)
    print(f"{label}: score {score:.2f}")
    return replies, [text for _, text in judged], score


def main() -> None:
    global LLM
    parser = add_llm_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    LLM = client(args, {"max_tokens": 80, "temperature": 0})
    optimizer = bp.optimizers.OptoPrime([ANSWER_STYLE], llm=LLM, max_tokens=300)
    replies, feedback, first = run("step 0")
    score = first
    for step in range(1, args.steps + 1):
        if score == 1.0:
            break
        bp.backward(replies, feedback)          # one minibatch: each reply with its own feedback
        update = optimizer.step()
        optimizer.zero_feedback()
        for change in update.changes:
            print(f"  {change.parameter.name}: {'accepted' if change.accepted else 'refused'} -> {change.new!r}")
        replies, feedback, score = run(f"step {step}")
    print(f"final prompt: {ANSWER_STYLE.value!r}")
    print(f"score {first:.2f} -> {score:.2f}")


if __name__ == "__main__":
    main()
