"""Reading a design out of the meta agent's reply: tagged text with a code block, or a JSON object."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from search_helpers import VERIFY

from backprose.errors import DesignReplyUnusable, LLMFormatError
from backprose.llm import Scripted
from backprose.search import arithmetic
from backprose.search.meta import MetaAgent
from backprose.search.reply import parse_design

TAGGED = f"""Thought: Ask the model to verify its own answer before replying.
It checks each step.
Name: verify_first
```python
{VERIFY}```
"""


def test_tagged_reply_gives_thought_name_and_code():
    design = parse_design(TAGGED)
    assert design == {"thought": "Ask the model to verify its own answer before replying.\nIt checks each step.",
                      "name": "verify_first", "code": VERIFY}


def test_code_with_quotes_and_escapes_survives_where_a_json_string_would_break():
    code = 'PROMPTS = {"s": "Say \\"hi\\"\\n"}\n\n\ndef forward(task):\n    return "it\'s " + task\n'
    design = parse_design(f"Thought: t\nName: q\n```python\n{code}```")
    assert design["code"] == code
    ns: dict = {}
    exec(design["code"], ns)
    assert ns["forward"]("x") == "it's x"


def test_a_reply_cut_before_the_closing_fence_keeps_the_code_so_running_it_reports_the_error():
    design = parse_design("Thought: t\nName: cut\n```python\ndef forward(task):\n    return llm(")
    assert design["code"] == "def forward(task):\n    return llm(\n"


def test_the_module_is_picked_over_a_quoted_snippet():
    reply = f"Thought: uses `x = 1`\n```python\nx = 1\n```\nName: two\n```python\n{VERIFY}```"
    assert parse_design(reply)["code"] == VERIFY


def test_json_reply_is_still_read_even_with_raw_newlines_in_strings():
    reply = '{"thought": "t", "name": "j", "code": "def forward(task):\n    return task\n"}'
    assert parse_design(reply)["code"] == "def forward(task):\n    return task\n"
    fenced = json.dumps({"thought": "t", "name": "j", "code": f"```python\n{VERIFY}```"})
    assert parse_design("Here it is: " + fenced)["code"] == VERIFY


@pytest.mark.parametrize("reply", ["", "I would add a verification step.", '{"thought": "t", "name": "n", "code": ""}'])
def test_a_reply_without_code_is_a_typed_format_error(reply):
    with pytest.raises(DesignReplyUnusable) as info:
        parse_design(reply)
    assert isinstance(info.value, LLMFormatError) and info.value.raw == reply
    assert "no usable design" in str(info.value)


@given(st.text(alphabet=st.characters(blacklist_characters="`", blacklist_categories=("Cs",)), max_size=200))
def test_any_code_without_backticks_round_trips_through_a_fenced_reply(body):
    code = f"def forward(task):\n    return {body!r}\n"
    assert parse_design(f"Thought: t\nName: n\n```python\n{code}```")["code"] == code.strip() + "\n"


def test_meta_agent_asks_for_the_tagged_format_and_reads_it():
    seen: list[list[dict]] = []

    def reply(messages: list[dict]) -> str:
        seen.append(messages)
        return TAGGED

    design = MetaAgent(Scripted(reply)).propose(arithmetic(2, 0), "novel", [], [], [])
    assert design["name"] == "verify_first" and design["code"] == VERIFY
    assert "```python" in seen[0][0]["content"] and "Name:" in seen[0][0]["content"]
