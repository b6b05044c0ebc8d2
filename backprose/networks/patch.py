"""JSON Patch (RFC 6902) on a copy: the edits the backward phase proposes for a network's spec.

`apply_patch(doc, ops)` never touches `doc`; it returns the patched copy or raises `InvalidEdit` naming the
operation that could not apply. Checking the result as a spec is the caller's second gate.
"""

from __future__ import annotations

import copy
from typing import Any

from backprose.errors import InvalidEdit

OPS = ("add", "remove", "replace", "move", "copy", "test")


def _pointer(path: Any, edit: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise InvalidEdit(edit, f"path {path!r} is not a JSON pointer like '/layers/0/aggregation'")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list, token: str, edit: Any, *, insert: bool) -> int:
    if insert and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise InvalidEdit(edit, f"{token!r} is not a list index")
    i = int(token)
    if i > len(container) or (i == len(container) and not insert):
        raise InvalidEdit(edit, f"index {i} is out of range for a list of {len(container)}")
    return i


def _parent(doc: Any, parts: list[str], edit: Any) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, edit, insert=False)]
        else:
            raise InvalidEdit(edit, f"no {token!r} along the path")
    return node


def _get(doc: Any, parts: list[str], edit: Any) -> Any:
    if not parts:
        return doc
    parent, token = _parent(doc, parts, edit), parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise InvalidEdit(edit, f"no {token!r} at the path")
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(parent, token, edit, insert=False)]
    raise InvalidEdit(edit, "the path goes through a value that is not an object or a list")


def _remove(doc: Any, parts: list[str], edit: Any) -> Any:
    if not parts:
        raise InvalidEdit(edit, "cannot remove the whole document")
    parent, token = _parent(doc, parts, edit), parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise InvalidEdit(edit, f"no {token!r} to remove")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, edit, insert=False))
    raise InvalidEdit(edit, "the path goes through a value that is not an object or a list")


def _add(doc: Any, parts: list[str], value: Any, edit: Any) -> Any:
    if not parts:
        return value
    parent, token = _parent(doc, parts, edit), parts[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, edit, insert=True), value)
    else:
        raise InvalidEdit(edit, "the path goes through a value that is not an object or a list")
    return doc


def apply_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """The patched deep copy of `doc`; InvalidEdit (and `doc` untouched) if any operation fails."""
    if not isinstance(ops, list):
        raise InvalidEdit(ops, "a patch is a list of operations")
    out = copy.deepcopy(doc)
    for edit in ops:
        if not isinstance(edit, dict) or edit.get("op") not in OPS:
            raise InvalidEdit(edit, f"each operation is an object whose 'op' is one of {', '.join(OPS)}")
        op, parts = edit["op"], _pointer(edit.get("path"), edit)
        if op in ("add", "replace", "test") and "value" not in edit:
            raise InvalidEdit(edit, f"'{op}' needs a 'value'")
        value = copy.deepcopy(edit.get("value"))
        if op == "add":
            out = _add(out, parts, value, edit)
        elif op == "remove":
            _remove(out, parts, edit)
        elif op == "replace":
            _get(out, parts, edit)
            if not parts:
                out = value
            else:
                _remove(out, parts, edit)
                out = _add(out, parts, value, edit)
        elif op == "test":
            if _get(out, parts, edit) != value:
                raise InvalidEdit(edit, "the tested value differs")
        else:
            source = _pointer(edit.get("from"), edit)
            if op == "move" and parts[: len(source)] == source and len(parts) > len(source):
                raise InvalidEdit(edit, "cannot move a value into itself")
            moved = _remove(out, source, edit) if op == "move" else copy.deepcopy(_get(out, source, edit))
            out = _add(out, parts, moved, edit)
    return out
