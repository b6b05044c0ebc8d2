"""Traced LLM calls for workflows: `call_llm` (one op) and `Agent` (a module whose prompts are parameters).

"Optimize the prompts of my pipeline" is then one `bp.Agent(...)` per step, or a `bp.param` passed as
`system=` to `call_llm`: the prompt nodes become parents of the reply, so feedback on the reply reaches them.
"""

from __future__ import annotations

from typing import Any

from backprose.module import Module
from backprose.nodes.apply import apply, make_message, raise_error, unique_nodes
from backprose.nodes.message import Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import param
from backprose.trace.bundle import bundle

_CALL = Op("call_llm", "Send the system prompt and the user prompt to a language model; the value "
                       "is the model's reply text.")


def _messages(system: Any, prompt: Any) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": str(system)}] if system else []
    return messages + [{"role": "user", "content": str(prompt)}]


def _client(llm: Any) -> Any:
    if llm is not None:
        return llm
    from backprose.llm import default

    return default()


def call_llm(prompt: Any, system: Any = None, *, llm: Any = None, **options: Any) -> Node:
    """Ask a model; returns a Message whose parents are the prompt and system nodes (if they are nodes)."""
    client = _client(llm)
    return apply(_CALL, lambda s, p: client.complete(_messages(s, p), **options).text, (system, prompt))


async def acall_llm(prompt: Any, system: Any = None, *, llm: Any = None, **options: Any) -> Node:
    """Async twin of `call_llm`, for concurrent rollouts on one event loop."""
    client = _client(llm)
    parents = unique_nodes((system, prompt))
    raw = [v._value if isinstance(v, Node) else v for v in (system, prompt)]
    try:
        completion = await client.acomplete(_messages(*raw), **options)
    except Exception as exc:
        raise_error(exc, _CALL, parents)
    return make_message(completion.text, _CALL, parents)


@bundle(name="compose_prompt")
def compose_prompt(instructions: str, question: str) -> str:
    """Put the task instructions before the question, separated by a blank line."""
    return f"{instructions}\n\n{question}" if instructions else str(question)


class Agent(Module):
    """One LLM step with a trainable system prompt and trainable instructions."""

    def __init__(self, system: str = "You are a helpful assistant.", instructions: str = "", *,
                 llm: Any = None, name: str = "agent", **options: Any) -> None:
        self.system = param(system, name=f"{name}.system",
                            description=f"system prompt of the {name} step")
        self.instructions = param(instructions, name=f"{name}.instructions",
                                  description=f"task instructions placed before each input of the {name} step")
        self.llm = llm
        self.options = options

    def __call__(self, question: Any) -> Node:
        prompt = compose_prompt(self.instructions, question)
        return call_llm(prompt, system=self.system, llm=self.llm, **self.options)

    async def acall(self, question: Any) -> Node:
        prompt = compose_prompt(self.instructions, question)
        return await acall_llm(prompt, system=self.system, llm=self.llm, **self.options)
