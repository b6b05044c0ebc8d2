"""Telling Reflect's requests apart in a scripted model, and the key its reply must use."""

from __future__ import annotations

import re

# Reflect's two system prompts: a text that a model reads is asked for as the model's instructions
OPENINGS = ("You improve one parameter", "You write the instructions")


def is_reflect(messages: list[dict[str, str]]) -> bool:
    return messages[0]["role"] == "system" and messages[0]["content"].startswith(OPENINGS)


def reply_key(user: str) -> str:
    """The parameter's name, as the closing 'Reply in JSON: {"diagnosis": ..., "<name>": ...}' line asks."""
    found = re.search(r'Reply in JSON: \{"[^"]+": "[^"]*", "([^"]+)":', user)
    assert found, f"no reply line in a Reflect prompt: {user[-300:]!r}"
    return found.group(1)
