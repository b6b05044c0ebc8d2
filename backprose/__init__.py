"""backprose: optimize LLM workflows by carrying textual feedback backward through a traced graph."""

import logging

from backprose import optimizers
from backprose.agent import Agent, acall_llm, call_llm
from backprose.errors import BackproseError, ExecutionError, GraphError, InvalidUpdate
from backprose.module import Module
from backprose.nodes import CodeParameter, ErrorNode, Message, Node, Parameter, param
from backprose.nodes.make import node
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
from backprose.train import Trainer, TrainResult  # `bp.train(...)` itself: see backprose/train/__init__.py

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Agent", "TrainResult", "Trainer", "acall_llm", "call_llm", "llm", "optimizers", "train",
    "BackproseError", "CodeParameter", "ErrorNode", "ExecutionError", "Feedback", "GraphError",
    "InvalidUpdate", "Message", "Module", "Node", "Parameter", "backward", "bundle", "minimal_subgraph",
    "no_trace", "node", "param", "parameters_of", "render", "scope", "to_networkx", "topological_order",
]


def __getattr__(name: str):
    # `bp.llm` is loaded on first use: the openai client takes most of a second to import.
    if name == "llm":
        import importlib

        return importlib.import_module("backprose.llm")
    raise AttributeError(f"module 'backprose' has no attribute {name!r}")
