"""The example in docs/isolation.md runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "isolation.md"


def test_doc_example_prints_what_it_promises() -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    printed = out.getvalue().splitlines()
    assert printed[0] == "True 5.0 'computing 3 4\\n'"
    assert printed[1] == "ZeroDivisionError 10 return x / y"
    assert printed[2] in ("True 2", "True 3")  # the loop header or its body, wherever the kill landed
    assert printed[3] == "13.0"
    # And the comments in the doc say the same.
    for line in printed[:2] + printed[3:]:
        assert f"# {line}" in code
