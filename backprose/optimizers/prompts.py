"""Prompt templates of the optimizers: jinja2 files beside them, overridable per optimizer instance.

`templates=` takes a directory (files named like the built-in ones win) or a dict of template strings
keyed by those names. Rendering is strict: a missing variable is an error, never silent empty text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from backprose.errors import TemplateNotFound

BUILTIN = Path(__file__).parent / "templates"


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                              autoescape=False, trim_blocks=True, lstrip_blocks=True)


@cache
def _builtin() -> jinja2.Environment:
    return _environment(jinja2.FileSystemLoader(BUILTIN))


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN.glob("*.j2"))


class Templates:
    """The templates one optimizer renders; `override` replaces some of the built-in ones."""

    def __init__(self, override: str | os.PathLike[str] | Mapping[str, str] | None = None) -> None:
        if override is None:
            self.env = _builtin()
            return
        known = builtin_names()
        if isinstance(override, Mapping):
            unknown = [k for k in override if k not in known]
            first: jinja2.BaseLoader = jinja2.DictLoader(dict(override))
        else:
            folder = Path(override)
            if not folder.is_dir():
                raise NotADirectoryError(f"templates={str(folder)!r} is not a directory; pass a folder of .j2 "
                                         "files or a dict of template strings")
            unknown = [p.name for p in folder.glob("*.j2") if p.name not in known]
            first = jinja2.FileSystemLoader(folder)
        if unknown:
            raise TemplateNotFound(unknown[0], known)
        self.env = _environment(jinja2.ChoiceLoader([first, jinja2.FileSystemLoader(BUILTIN)]))

    def render(self, template: str, /, **variables: Any) -> str:
        return self.env.get_template(template).render(**variables).strip()
