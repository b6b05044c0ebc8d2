"""The LLM judge behind `llm_judge`: render the grading prompt, ask, and parse 'SCORE: x'."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from backprose.data.dataset import Example

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
_SCORE = re.compile(r"SCORE\s*:\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def judge_with_llm(criteria: str, answer: str, example: Example, *, llm: Any = None, max_tokens: int = 64) -> Any:
    from backprose.llm import default
    from backprose.train.guides import Judgement

    client = llm or default()
    prompt = _ENV.get_template("judge.j2").render(criteria=criteria, question=example.input,
                                                  target=example.target, answer=answer)
    reply = client.complete(prompt, max_tokens=max_tokens, temperature=0).text
    found = _SCORE.search(reply)
    if found is None:
        return Judgement(0.0, f"The judge gave no score; it said: {reply.strip()[:200]!r}")
    score = min(max(float(found.group(1)) / 10, 0.0), 1.0)
    advice = _SCORE.sub("", reply, count=1).strip() or "No advice."
    return Judgement(score, advice)
