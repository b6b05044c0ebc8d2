"""A customer-support pipeline in plain Python, before backprose: retrieve, draft, check, format.

    python examples/support_pipeline_plain.py          # answers the sample questions once

This file is the "before" of `decorate_workflow.py`: the pipeline section below is repeated there
line for line, with only decorators and one `bp.param` line added. Takes about a minute on the local
model; set BACKPROSE_BASE_URL / BACKPROSE_MODEL / OPENAI_API_KEY to use a hosted one instead.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from _llm import add_llm_args, client

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
LLM: Any = None  # the model client, set by main()
MAX_WORDS = 20


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9.]+", text.lower()))


def retrieve(question: str, k: int = 2) -> list[str]:
    """The ids of the k notes sharing the most words with the question."""
    asked = words(question)
    return sorted(CORPUS, key=lambda doc: -len(asked & words(CORPUS[doc])))[:k]


def draft(question: str, doc_ids: list[str]) -> str:
    """Ask the model for an answer from the retrieved notes."""
    notes = "\n".join(f"[{doc}] {CORPUS[doc]}" for doc in doc_ids)
    messages = [{"role": "system", "content": f"{ANSWER_STYLE}"},
                {"role": "user", "content": f"Notes:\n{notes}\n\nQuestion: {question}"}]
    return LLM.complete(messages).text.strip()


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

QUESTIONS = ["How much water does the Nimbus kettle hold?", "How long is the warranty?",
             "How many slots does the toaster have?"]


def main() -> None:
    global LLM
    args = add_llm_args(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args()
    LLM = client(args, {"max_tokens": 80, "temperature": 0})
    for question in QUESTIONS:
        print(f"Q: {question}\n{support_reply(question)}\n")


if __name__ == "__main__":
    main()
