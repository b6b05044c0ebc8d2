"""A found design as a `bp.Module`: its prompts become Parameters that the optimizers can tune further.

The design's code still runs only in isolation: calling the module runs `forward` in a sandbox worker with
the current prompt values, as one traced op whose parents are the task and every prompt. Feedback on the
answer therefore reaches the prompts, and `OptoPrime`/`TextGrad`/`OPRO` rewrite them (search outer loop,
prompt optimization inner loop).
"""

from __future__ import annotations

from typing import Any

from backprose.errors import DesignFailed
from backprose.isolation import Limits, Sandbox
from backprose.module import Module
from backprose.nodes.apply import apply
from backprose.nodes.message import Op
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter, param
from backprose.search.design import Design
from backprose.search.evaluate import Evaluator, client_config
from backprose.search.export import export_design


class DesignModule(Module):
    """`module(task) -> Message`; `module.prompts` maps "PROMPTS.key" (or a constant's name) to a Parameter."""

    def __init__(self, design: Design, agent_llm: Any, *, sandbox: Sandbox | None = None,
                 limits: Limits | None = None, evaluator: Evaluator | None = None) -> None:
        self.design = design
        self.prompts: dict[str, Parameter] = {
            key: param(value, name=key, description=f"prompt {key} of the agent design {design.name}")
            for key, value in design.prompts().items()
        }
        self._evaluator = evaluator or Evaluator(client_config(agent_llm), sandbox=sandbox, limits=limits,
                                                 workers=1)
        self._op = Op(f"design_{design.name}", f"Run the agent design {design.name!r} "
                      f"on the task with the given prompts; the value is its answer. Design idea: "
                      f"{design.thought}")

    def prompt_values(self) -> dict[str, str]:
        return {key: str(p.value) for key, p in self.prompts.items()}

    def _run(self, task: Any, *values: Any) -> Any:
        prompts = dict(zip(self.prompts, (str(v) for v in values), strict=True))
        ev = self._evaluator.evaluate(self.design.code, [task], name=self.design.name, prompts=prompts)
        if not ev.ok:
            raise DesignFailed(self.design.name, ev.error or "")
        return ev.answers[0]

    def __call__(self, task: Any) -> Node:
        task = task if isinstance(task, Node) else Node(task, name="task")
        return apply(self._op, self._run, (task, *self.prompts.values()))

    def export(self, path: Any = None) -> str:  # type: ignore[override]
        """The design with its current (tuned) prompts as a standalone Python file."""
        return export_design(self.design, path, prompts=self.prompt_values())

    def close(self) -> None:
        self._evaluator.close()
