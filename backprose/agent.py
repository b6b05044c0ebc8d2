"""Traced LLM calls for workflows: `call_llm` (one op) and `Agent` (a module whose prompts are parameters).

"Optimize the prompts of my pipeline" is then one `bp.Agent(...)` per step, or a `bp.param` passed as
`system=` to `call_llm`: the prompt nodes become parents of the reply, so feedback on the reply reaches them.
An agent may also keep worked examples (`demos`): earlier inputs with replies that scored well, sent as
chat turns before each input. A small model follows a shown example far more reliably than an instruction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backprose.errors import InvalidUpdate
from backprose.module import Module
from backprose.nodes.apply import applying
from backprose.nodes.message import Message, Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import param
from backprose.steps import Call, Steps, arun, run
from backprose.trace.bundle import bundle
from backprose.trace.graph import minimal_subgraph

_CALL = Op("call_llm", "Send the system prompt and the user prompt to a language model; the value "
                       "is the model's reply text.")
_CALL_WITH_EXAMPLES = Op("call_llm", "Send the system prompt, worked examples (as earlier turns: each input with a "
                                     "good reply) and the user prompt to a language model; the value is the "
                                     "model's reply text.")


def _messages(system: Any, prompt: Any, demos: Any = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": str(system)}] if system else []
    for demo in demos or ():
        messages += [{"role": "user", "content": str(demo["input"])},
                     {"role": "assistant", "content": str(demo["reply"])}]
    return messages + [{"role": "user", "content": str(prompt)}]


def check_demos(value: Any) -> list[dict[str, str]]:
    """`value` as a list of {"input": text, "reply": text}, or InvalidUpdate naming what is wrong."""
    if not isinstance(value, (list, tuple)):
        raise InvalidUpdate(f"demos must be a list of {{'input': ..., 'reply': ...}}, got {type(value).__name__}")
    out = []
    for i, demo in enumerate(value):
        if not isinstance(demo, Mapping) or set(demo) != {"input", "reply"} or not all(
                isinstance(demo[k], str) for k in ("input", "reply")):
            raise InvalidUpdate(f"demo {i} must be an object with exactly the texts 'input' and 'reply', "
                                f"got {demo!r:.80}")
        out.append({"input": demo["input"], "reply": demo["reply"]})
    return out


def _client(llm: Any) -> Any:
    if llm is not None:
        return llm
    from backprose.llm import default

    return default()


def call_llm(prompt: Any, system: Any = None, *, demos: Any = None, llm: Any = None, **options: Any) -> Node:
    """Ask a model; returns a Message whose parents are the prompt and system nodes (if they are nodes).

    `demos` (a list of {"input", "reply"}, or a node holding one) become user/assistant turns before it."""
    return run(_calling(prompt, system, demos, llm, options))


async def acall_llm(prompt: Any, system: Any = None, *, demos: Any = None, llm: Any = None,
                    **options: Any) -> Node:
    """Async `call_llm`, for concurrent rollouts on one event loop; the same graph and the same errors."""
    return await arun(_calling(prompt, system, demos, llm, options))


def _calling(prompt: Any, system: Any, demos: Any, llm: Any, options: dict[str, Any]) -> Steps[Node]:
    client = _client(llm)
    op, args = (_CALL, (system, prompt)) if demos is None else (_CALL_WITH_EXAMPLES, (system, prompt, demos))
    stopped: list[str | None] = []

    def text(completion: Any) -> str:
        stopped.append(getattr(completion, "finish_reason", None))
        return completion.text

    node = yield from applying(
        op, lambda *values: Call(client.complete, client.acomplete, (_messages(*values),), options), args,
        reply=text)
    if isinstance(node, Message):  # a reply cut at max_tokens is no finished answer (see Message.truncated)
        node.truncated = stopped == ["length"]
        limit = {**getattr(client, "default_options", {}), **options}.get("max_tokens")
        node.token_limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    return node


@bundle(name="compose_prompt")
def compose_prompt(instructions: str, question: str) -> str:
    """Put the task instructions before the question, separated by a blank line."""
    return f"{instructions}\n\n{question}" if instructions else str(question)


@bundle(name="worked_examples")
def worked_examples(instructions: str, demos: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each worked example as the turn it stands for: its input under the current instructions, its reply."""
    return [{"input": f"{instructions}\n\n{d['input']}" if instructions else d["input"], "reply": d["reply"]}
            for d in demos]


def first_call(p: Node, output: Node) -> Node | None:
    """The first model call on the way from `p` to `output` (it may be `output` itself): for an agent's
    prompt, that agent's own call, since every later call on the way depends on its reply."""
    for node in minimal_subgraph([p], output):
        if isinstance(node, Message) and node.op.name == "call_llm":
            return node
    return None


class Agent(Module):
    """One LLM step with a trainable system prompt and trainable instructions.

    `demos` (a list, possibly empty, of {"input", "reply"}) gives the agent a trainable `demos` parameter
    of worked examples; without it the agent has none.
    """

    def __init__(self, system: str = "You are a helpful assistant.", instructions: str = "", *,
                 llm: Any = None, name: str = "agent", demos: Sequence[Mapping[str, str]] | None = None,
                 **options: Any) -> None:
        self.system = param(system, name=f"{name}.system",
                            description=f"system prompt of the {name} step")
        self.instructions = param(instructions, name=f"{name}.instructions",
                                  description=f"task instructions placed before each input of the {name} step")
        if demos is not None:
            self.demos = param(check_demos(demos), name=f"{name}.demos", projection=check_demos, description=(
                f"worked examples (an input and a good reply) shown before each input of the {name} step"))
        self.llm = llm
        self.options = options

    def _turns(self) -> Node | None:
        # an empty list is in the graph too: feedback must reach it for runs to be added to it
        demos = getattr(self, "demos", None)
        return worked_examples(self.instructions, demos) if demos is not None else None

    def __call__(self, question: Any) -> Node:
        prompt = compose_prompt(self.instructions, question)
        return call_llm(prompt, system=self.system, demos=self._turns(), llm=self.llm, **self.options)

    async def acall(self, question: Any) -> Node:
        prompt = compose_prompt(self.instructions, question)
        return await acall_llm(prompt, system=self.system, demos=self._turns(), llm=self.llm, **self.options)
