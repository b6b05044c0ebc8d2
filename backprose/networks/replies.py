"""Asking the model for JSON without throwing away replies that are usable but not strictly valid.

Small models (and llama.cpp's grammar for JSON objects) often put raw newlines or tabs inside JSON strings.
Python's strict JSON reader refuses those, so a critique or a design that reads perfectly well was dropped.
`ask_json` tries the normal structured call first, then reads the raw reply leniently before giving up.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from backprose.errors import LLMFormatError

logger = logging.getLogger(__name__)


def lenient_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text`, allowing control characters inside strings; None if there is none."""
    decoder = json.JSONDecoder(strict=False)
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def ask_json(llm: Any, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any], *, name: str,
             **options: Any) -> Any:
    """`complete_json`, falling back to a lenient reading of the raw reply; LLMFormatError if both fail.

    The lenient value must have the schema's required keys; callers here check the shapes they use.
    """
    from backprose.llm.structured import complete_json

    try:
        return complete_json(llm, list(messages), schema, name=name, **options)
    except LLMFormatError as exc:
        value = lenient_json(exc.raw)
        if value is None or any(key not in value for key in schema.get("required", ())):
            raise
        logger.info("%s: the structured reply did not parse; using the JSON object found in its text", name)
        return value
