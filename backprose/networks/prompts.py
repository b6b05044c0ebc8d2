"""The network's prompt templates: jinja2 files beside this module, rendered strictly."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from backprose.optimizers.problem import show_ends

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              autoescape=False, trim_blocks=True, lstrip_blocks=True)


def render(name: str, /, **variables: Any) -> str:
    """Render `templates/<name>`; a missing variable is an error, not empty text."""
    return _env().get_template(name).render(**variables).strip()


def cut(text: Any, limit: int) -> str:
    """`text` within `limit` characters, keeping its start and its end (where an agent's result is)."""
    return show_ends(str(text), limit)
