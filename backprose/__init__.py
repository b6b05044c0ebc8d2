"""backprose: optimize LLM workflows by carrying textual feedback backward through a traced graph."""

import logging

from backprose.errors import BackproseError, ExecutionError, GraphError, InvalidUpdate
from backprose.module import Module
from backprose.nodes import CodeParameter, ErrorNode, Message, Node, Parameter, param
from backprose.trace import (
    Feedback,
    backward,
    bundle,
    minimal_subgraph,
    no_trace,
    parameters_of,
    render,
    scope,
    to_networkx,
    topological_order,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BackproseError", "CodeParameter", "ErrorNode", "ExecutionError", "Feedback", "GraphError",
    "InvalidUpdate", "Message", "Module", "Node", "Parameter", "backward", "bundle", "minimal_subgraph",
    "no_trace", "param", "parameters_of", "render", "scope", "to_networkx", "topological_order",
]
