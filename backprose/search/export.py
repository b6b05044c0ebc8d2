"""Write a design out as a standalone Python file: its code, tuned prompts written in, and a `__main__`."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

from backprose.search.design import Design

_MAIN = '''

if __name__ == "__main__":
    # Runs on the default client (BACKPROSE_BASE_URL / BACKPROSE_MODEL / OPENAI_API_KEY), in this process.
    import sys

    print(forward(" ".join(sys.argv[1:]) or sys.stdin.read()))
'''


def export_design(design: Design, path: str | os.PathLike[str] | None = None,
                  prompts: Mapping[str, str] | None = None) -> str:
    """Source of a runnable module for `design`; prompt values that differ from the design's are set after
    its code, so the diff against the searched design is visible at the end of the file."""
    fitness = str(design.fitness) if design.fitness else "not evaluated"
    thought = textwrap.fill(design.thought, 100) if design.thought else design.name
    header = (f'"""Agent design {design.name!r} (archive #{design.id}, {design.operator}; validation accuracy '
              f'{fitness}).\n\n{thought}\n"""\n\n')
    code = design.code.rstrip() + "\n"
    if code.lstrip().startswith(('"""', "'''")):
        header = f"# Agent design {design.name!r} (archive #{design.id}); validation accuracy {fitness}.\n"
    original = design.prompts()
    changed = {k: v for k, v in (prompts or {}).items() if original.get(k) != v}
    tuned = ""
    if changed:
        lines = ["", "", "# Prompts tuned after the search."]
        for key, value in changed.items():
            target = f"PROMPTS[{key[len('PROMPTS.'):]!r}]" if key.startswith("PROMPTS.") else key
            lines.append(f"{target} = {value!r}")
        tuned = "\n".join(lines) + "\n"
    source = header + code + tuned + _MAIN
    if path is not None:
        Path(path).write_text(source, encoding="utf-8")
    return source
