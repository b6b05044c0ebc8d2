"""Agentic neural networks: layered teams of agents that improve their structure and prompts from feedback.

Forward: a model decomposes a task into ordered subtasks; each becomes a layer (a team of `bp.Agent`s and
an aggregation), and outputs flow layer to layer as one traced graph. Backward: a global textual gradient
judges the whole network and proposes JSON-patch edits of its spec; a local gradient per layer advises each
agent; `NetworkOptimizer` turns them into validated updates that the trainer gates on validation.
"""

from backprose.networks.aggregate import BUILTIN as AGGREGATIONS
from backprose.networks.aggregate import Aggregation, LayerContext, aggregation, answer_key, majority
from backprose.networks.gradients import Gradients, NetworkGradients, read_run
from backprose.networks.network import AgentNetwork
from backprose.networks.optimizer import NetworkOptimizer
from backprose.networks.patch import apply_patch
from backprose.networks.plan import adapt, decompose
from backprose.networks.spec import check_spec, join, split, validate_spec

__all__ = ["AGGREGATIONS", "AgentNetwork", "Aggregation", "Gradients", "LayerContext", "NetworkGradients",
           "NetworkOptimizer", "adapt", "aggregation", "answer_key", "apply_patch", "check_spec", "decompose",
           "join", "majority", "read_run", "split", "validate_spec"]
