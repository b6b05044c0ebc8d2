"""Node types: constants, trainable parameters, op outputs and errors."""

from backprose.nodes import operators as _operators  # noqa: F401  (installs the traced operators)
from backprose.nodes.code import CodeParameter
from backprose.nodes.message import ErrorNode, Message, Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter, param

__all__ = ["CodeParameter", "ErrorNode", "Message", "Node", "Op", "Parameter", "param"]
