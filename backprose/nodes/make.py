"""`bp.node(x)`: make anything a node, as Trace users write it, without ever wrapping a node twice."""

from __future__ import annotations

import logging
from typing import Any

from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter

log = logging.getLogger(__name__)


def node(value: Any, name: str | None = None, description: str = "", *, trainable: bool = False,
         **options: Any) -> Node:
    """`value` as a node: returned unchanged if it already is one (so helpers can call `bp.node` on what
    they are given), otherwise a constant, or with `trainable=True` a `Parameter` (options as `bp.param`).

    `trainable=True` on a node that is not a parameter declares a new parameter holding its value.
    """
    if options and not trainable:
        raise TypeError(f"bp.node got {', '.join(sorted(options))}, which only a parameter takes; "
                        "pass trainable=True, or use bp.param(value, ...)")
    if isinstance(value, Node):
        if isinstance(value, Parameter) or not trainable:
            if name is not None and name != value.name:
                log.info("bp.node kept the name %r of the node it was given; %r is ignored", value.name, name)
            return value
        return Parameter(value._value, name=name or value.name, description=description or value.description,
                         **options)
    if trainable:
        return Parameter(value, name=name, description=description, **options)
    return Node(value, name=name, description=description)
