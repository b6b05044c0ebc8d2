"""The one program every system trains, and the one code that scores a system's final program.

The program is one chat request to the small model: the trainable instruction as the system message, then
the worked examples (if a system keeps any) as earlier user/assistant turns, then the question. Each
system hands back a `Final` (instruction and worked examples); `score` runs it on a split with the same
request and the task's own guide, whatever system produced it. Program calls run at temperature 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from backprose.train.guides import as_guide

PROGRAM_MODEL = "qwen2.5-coder-0.5b-instruct"  # runs the program
OPTIMIZER_MODEL = "qwen2.5-coder-1.5b-instruct"  # writes every system's proposals, gradients, reflections
PROGRAM_TEMPERATURE = 0.0
OPTIMIZER_TEMPERATURE = 0.7  # pinned for every system's optimizer requests (the proxy enforces both)
MAX_TOKENS = {"humaneval": 384}  # a whole function
DEFAULT_MAX_TOKENS = 96  # a short answer, with room for a few words of reasoning


def max_tokens(task: str) -> int:
    return MAX_TOKENS.get(task, DEFAULT_MAX_TOKENS)


@dataclass(frozen=True)
class Final:
    """A trained program: what a system learned, in the form every system's result is scored in."""

    instruction: str
    demos: tuple[tuple[str, str], ...] = ()  # (input, reply) pairs, shown as earlier turns

    def as_dict(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "demos": [{"input": i, "reply": r} for i, r in self.demos]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Final:
        return cls(data["instruction"], tuple((d["input"], d["reply"]) for d in data.get("demos", ())))


def messages(instruction: str, question: str, demos: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """The program's chat messages; the same as `bp.call_llm(question, system=instruction, demos=...)` sends."""
    out = [{"role": "system", "content": instruction}] if instruction else []
    for given, reply in demos:
        out += [{"role": "user", "content": given}, {"role": "assistant", "content": reply}]
    return out + [{"role": "user", "content": question}]


def request(final: Final, question: str, task: str) -> dict[str, Any]:
    """The whole request body of one program call (what the proxy sees and caches)."""
    return {"model": PROGRAM_MODEL, "messages": messages(final.instruction, question, final.demos),
            "temperature": PROGRAM_TEMPERATURE, "max_tokens": max_tokens(task)}


@dataclass
class Item:
    """One scored example: what was asked, what the program said, and what the guide made of it."""

    id: str
    input: str
    output: str
    score: float
    feedback: str = field(default="")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, "output": self.output, "score": self.score,
                "feedback": self.feedback}


def score(final: Final, examples: Sequence[Any], task: Any, client: Any, *, concurrency: int = 4) -> list[Item]:
    """Run `final` on every example through `client` (an `openai.OpenAI`) and judge each with the task's guide."""

    judge = as_guide(task.guide)

    def one(example: Any) -> Item:
        body = request(final, str(example.input), task.name)
        reply = client.chat.completions.create(**body)
        output = reply.choices[0].message.content or ""
        verdict = judge(output, example)
        return Item(str(example.id), str(example.input), output, float(verdict.score), str(verdict.feedback))

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, examples))


def dumps(items: Sequence[Item]) -> str:
    return json.dumps([i.as_dict() for i in items])
