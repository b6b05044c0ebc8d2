"""Reading a design out of the meta agent's reply: a `Thought:` line, a `Name:` line and a code block.

Code travels as a fenced block rather than inside a JSON string: small models writing Python inside JSON
mis-escape its quotes and newlines, and grammar-constrained decoding then closes the string at the first
bare quote, so the code arrives cut in half. A JSON object {"thought", "name", "code"} is still read, for
clients (and test doubles) that answer that way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from backprose.errors import DesignReplyUnusable

_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
_THOUGHT = re.compile(r"^\W*thought\W*:\s*(.*?)(?=^\W*name\W*:|```|\Z)", re.S | re.I | re.M)
_NAME = re.compile(r"^\W*name\W*:\s*(.+)$", re.I | re.M)


def _from_json(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder(strict=False).raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("code"), str) and value["code"].strip():
            return value
        start = text.find("{", start + 1)
    return None


def parse_design(text: str) -> dict[str, str]:
    """{"thought", "name", "code"} from a reply; the code may still be wrong (running it tells how)."""
    text = str(text)
    found = _from_json(text)
    if found is not None:
        code = found["code"]
        fenced = _FENCE.search(code)
        return {"thought": str(found.get("thought", "")).strip(), "name": str(found.get("name", "")).strip(),
                "code": (fenced.group(1) if fenced else code).strip() + "\n"}
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        raise DesignReplyUnusable(text, ["it has no ```python code block"])
    code = max(blocks, key=lambda b: ("def forward" in b, len(b)))  # the module, not a quoted snippet
    thought = _THOUGHT.search(text)
    name = _NAME.search(text)
    return {"thought": thought.group(1).strip() if thought else "", "name": name.group(1).strip() if name else "",
            "code": code.strip() + "\n"}
