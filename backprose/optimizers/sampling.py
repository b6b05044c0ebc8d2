"""Options for the i-th of n candidate proposals: rising temperature and a distinct sample index."""

from __future__ import annotations

from typing import Any


def candidate_options(i: int, n: int, options: dict[str, Any], temperature: float = 0.0,
                      spread: float = 0.4, ceiling: float = 1.2) -> dict[str, Any]:
    """The first candidate uses `temperature`; later ones get hotter (capped) and their own cache slot."""
    out = dict(options)
    base = out.pop("temperature", temperature)
    if n > 1:
        out["temperature"] = round(min(ceiling, base + spread * i), 3)
        out.setdefault("sample_index", i)
        if "seed" in out:
            out["seed"] = out["seed"] + i
    else:
        out["temperature"] = base
    return out
