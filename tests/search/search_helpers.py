"""Stand-ins for the two models of a search: a meta agent scripted by prompt content, and an agent model.

The agent model runs inside the isolation workers, so it is given as source text: it solves the generated
arithmetic problems exactly when its prompt says "verify", and answers 0 otherwise. A design that asks it
to verify therefore scores 100%, any other 0%, which makes the search's choices easy to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable

AGENT_MODEL = '''
import re

def solve(text):
    total = int(re.search(r"has (\\d+)", text).group(1))
    for m in re.finditer(r"gets (\\d+) more|gives away (\\d+)|doubles", text):
        if m.group(1):
            total += int(m.group(1))
        elif m.group(2):
            total -= int(m.group(2))
        else:
            total *= 2
    return total

def reply(messages, options):
    text = messages[-1]["content"]
    if "has " not in text:
        return "CORRECT"
    if "verify" in text.lower():
        return f"Checked twice. Answer: {solve(text)}"
    return "Answer: 0"
'''
AGENT = {"kind": "python", "source": AGENT_MODEL}

VERIFY = '''from backprose.search.blocks import llm

PROMPTS = {"solve": "Solve and verify: {task}"}


def forward(task):
    return llm(PROMPTS["solve"].format(task=task)).rsplit("Answer:", 1)[-1].strip()
'''
PLAIN = VERIFY.replace("Solve and verify", "Solve")
SYNTAX_ERROR = "def forward(task)\n    return 1\n"
RUNTIME_ERROR = "def forward(task):\n    parts = task.split()\n    return parts[1000]\n"
ENDLESS = "def forward(task):\n    n = 0\n    while True:\n        n += 1\n"
MEMORY_BOMB = "def forward(task):\n    blocks = []\n    while True:\n        blocks.append(bytearray(50_000_000))\n"


def design_reply(name: str, code: str, thought: str = "an idea") -> str:
    return json.dumps({"thought": thought, "name": name, "code": code})


def meta_responder(proposals: list[str], fixes: list[str] | None = None) -> Callable[[list[dict]], str]:
    """Proposal i (by generation, read from the prompt) is `proposals[i]`; reflections repeat the design;
    debug round r answers `fixes[r - 1]` (default: the VERIFY design)."""
    fixes = fixes or [VERIFY]
    state = {"generation": 0, "current": ""}

    def respond(messages: list[dict]) -> str:
        user = messages[-1]["content"]
        if "# Your job" in user:
            state["current"] = proposals[state["generation"] % len(proposals)]
            state["generation"] += 1
            return state["current"]
        if "# Reflection" in user:
            return state["current"]
        if "# Your design failed" in user:
            r = int(user.split("debug round ", 1)[1].split(" ", 1)[0])
            state["current"] = design_reply(f"fixed_{r}", fixes[min(r, len(fixes)) - 1])
            return state["current"]
        raise AssertionError(f"unexpected meta prompt: {user[:200]}")

    return respond
