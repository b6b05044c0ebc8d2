"""The meta agent: writes a new design from a bounded slice of the archive, reflects on it, and debugs it.

Every reply is a thought, a name and a fenced code block (read by `backprose.search.reply`); prompts are
the jinja2 templates beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from backprose.errors import LLMFormatError
from backprose.search import blocks
from backprose.search.design import Design
from backprose.search.reply import parse_design
from backprose.search.task import SearchTask

TEMPLATES = Path(__file__).parent / "templates"
THOUGHT_CHARS = 400  # a bounded thought, shown again in later prompts


def _truncate_code(code: str, limit: int) -> str:
    return code if len(code) <= limit else code[:limit] + "\n# ... (truncated)"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["truncate_code"] = _truncate_code
    return env


def render(template: str, **variables: Any) -> str:
    return _environment().get_template(template).render(**variables)


def _clean_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", str(name).strip().lower()).strip("_")[:60] or "design"


class MetaAgent:
    """Asks `llm` for designs. `options` go to every request (temperature, max_tokens, ...)."""

    def __init__(self, llm: Any, *, max_calls: int = 8, code_chars: int = 2500, **options: Any) -> None:
        self.llm = llm
        self.max_calls = max_calls
        self.code_chars = code_chars
        self.options = options

    def system(self) -> str:
        return render("meta_system.j2", blocks=blocks.describe(), max_calls=self.max_calls)

    def _ask(self, user: str) -> dict[str, str]:
        messages = [{"role": "system", "content": self.system()}, {"role": "user", "content": user}]
        design = parse_design(self.llm.complete(messages, **self.options).text)
        return {"thought": design["thought"][:THOUGHT_CHARS], "name": _clean_name(design["name"]),
                "code": design["code"]}

    def propose(self, task: SearchTask, operator: str, parents: Sequence[Design], shown: Sequence[Design],
                listed: Sequence[Design]) -> dict[str, str]:
        """A new design as {"thought", "name", "code"}; raises DesignReplyUnusable (an LLMFormatError) when
        the reply holds no code."""
        examples = [ex["input"] for ex in list(task.validation)[: task.examples_shown]]
        user = render("propose.j2", task=task, examples=examples, shown=shown, listed=listed, operator=operator,
                      parents=list(parents), parent_ids={p.id for p in parents}, code_chars=self.code_chars)
        return self._ask(user)

    def reflect(self, task: SearchTask, proposal: Mapping[str, str], round: int, rounds: int,
                others: Sequence[str]) -> dict[str, str]:
        """The proposal revised after self-review; the proposal unchanged if the reply is unusable."""
        user = render("reflect.j2", task=task, round=round, rounds=rounds,
                      others=", ".join(others) or "the designs shown", **proposal)
        try:
            return self._ask(user)
        except LLMFormatError:
            return dict(proposal)

    def debug(self, task: SearchTask, proposal: Mapping[str, str], error: str, round: int,
              rounds: int) -> dict[str, str]:
        """The design with its code fixed after `error`; raises LLMFormatError when the reply is unusable."""
        user = render("debug.j2", task=task, error=error[-3000:], round=round, rounds=rounds,
                      name=proposal["name"], code=proposal["code"])
        return self._ask(user)
