"""Tracing: the context, bundles, backward propagation and graph export."""

from backprose.context import enable_trace, is_tracing, no_trace, scope
from backprose.trace.backward import Feedback, backward
from backprose.trace.bundle import Bundle, bundle
from backprose.trace.export import render, to_networkx
from backprose.trace.graph import labels, minimal_subgraph, parameters_of, topological_order
from backprose.trace.propagators import Propagator, TraceGraph

__all__ = ["Bundle", "Feedback", "Propagator", "TraceGraph", "backward", "bundle", "enable_trace", "is_tracing",
           "labels", "minimal_subgraph", "no_trace", "parameters_of", "render", "scope", "to_networkx",
           "topological_order"]
