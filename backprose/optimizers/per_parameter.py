"""Optimizers that ask about one parameter at a time (TextGrad, Reflect).

Each candidate makes one call per trainable parameter, all of them concurrently, and joins the answers
into one proposal. A subclass says what to ask (`messages`), what a good reply looks like (`schema`,
`check`) and how to read it (`read`); replies stay strict, and a reply that never becomes usable is
reported in the proposal instead of being adopted.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backprose.errors import ReplyFormatError
from backprose.llm.accounting import track_usage
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal
from backprose.optimizers.replies import aask_json, ask_json
from backprose.optimizers.sampling import candidate_options

logger = logging.getLogger(__name__)
Result = tuple[Any, str]  # (suggested value or None, reasoning for the log)


class PerParameterOptimizer(Optimizer):
    """Base for optimizers whose prompt is about one parameter; see the module docstring."""

    temperature: float = 0.0
    max_tokens: int = 1024
    workers: int = 4
    value_key = "value"

    # --- what a subclass writes ---------------------------------------------------------------------------
    def messages(self, p: Parameter) -> list[dict[str, str]]:
        raise NotImplementedError

    def schema(self, p: Parameter) -> Mapping[str, Any]:
        raise NotImplementedError

    def check(self, p: Parameter, reply: Any) -> list[str]:
        """Problems with a parsed reply, each one sentence the model can act on (empty when usable)."""
        raise NotImplementedError

    def remember(self, params: list[Parameter]) -> None:
        """Called once per step after the candidates were asked for (for momentum and memories)."""

    def prepare(self, params: list[Parameter]) -> None:
        """Called once per step before the prompts are written (for state the prompts read)."""

    # --- shared -------------------------------------------------------------------------------------------
    def read(self, p: Parameter, reply: Mapping[str, Any]) -> Result:
        return p.check(reply[self.value_key]), f"{p.name}: {reply.get('reasoning', '')}"

    def salvage(self, p: Parameter, err: ReplyFormatError) -> Result:
        """A parsed but invalid value still goes to apply(), which refuses it with the reason."""
        if isinstance(err.value, dict) and self.value_key in err.value:
            try:
                return self.read(p, err.value)
            except Exception:
                return err.value[self.value_key], f"{p.name}: {err.value.get('reasoning', '')}"
        return None, f"{p.name}: the model's reply was unusable: {'; '.join(err.problems)}"

    def _checker(self, p: Parameter) -> Callable[[Any], list[str]]:
        def check(reply: Any) -> list[str]:
            problems = self.check(p, reply)
            if problems:
                return problems
            repeat = self.repeats_refusal(p, self.read(p, reply)[0])  # the trainer already refused it
            return [repeat] if repeat else []
        return check

    def _last_resort(self, p: Parameter, err: ReplyFormatError) -> Result:
        """What is left of a reply still unusable after its retries. A value the parameter itself would refuse
        goes on to `apply`, which reports why; a valid value that failed this optimizer's own check (a copy
        of an example, a value the trainer refused) is dropped, since trying it would cost a trial."""
        value, why = self.salvage(p, err)
        if value is None or not isinstance(err.value, Mapping):
            return value, why
        try:
            p.check(value)
        except Exception:  # InvalidUpdate, or a projection's own error: apply() reports it
            return value, why
        problems = self._checker(p)(err.value)
        if problems:
            logger.info("%s: dropped a valid value that failed %s's own check: %s", p.name, type(self).__name__,
                        "; ".join(problems)[:300])
            return None, f"{p.name}: dropped: {'; '.join(problems)}"
        return value, why

    def _one(self, p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> Result:
        try:
            reply = ask_json(self.llm, messages, self.schema(p), self._checker(p), self.templates, self.log,
                             retries=self.retries, **opts)
        except ReplyFormatError as err:
            return self._last_resort(p, err)
        return self.read(p, reply)

    async def _aone(self, p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> Result:
        try:
            reply = await aask_json(self.llm, messages, self.schema(p), self._checker(p), self.templates,
                                    self.log, retries=self.retries, **opts)
        except ReplyFormatError as err:
            return self._last_resort(p, err)
        return self.read(p, reply)

    @staticmethod
    def _assemble(params: list[Parameter], results: list[Result], usage: Any, i: int) -> Proposal:
        values = {p: v for p, (v, _) in zip(params, results, strict=True) if v is not None}
        return Proposal(values, "\n".join(r for _, r in results), usage.as_dict(), {"candidate": i})

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        return self.propose_for(self.ready(), n, **options)

    def propose_for(self, params: list[Parameter], n: int = 1, **options: Any) -> list[Proposal]:
        """`n` candidates over `params` only (parameters with feedback), for a caller that chose them."""
        if not params:
            return []
        self.prepare(params)
        prompts = [self.messages(p) for p in params]
        proposals = []
        for i in range(n):
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage, ThreadPoolExecutor(max(1, min(self.workers, len(params)))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, self._one, p, m, opts)
                           for p, m in zip(params, prompts, strict=True)]
                results = [f.result() for f in futures]
            proposals.append(self._assemble(params, results, usage, i))
        self.remember(params)
        return proposals

    async def apropose(self, n: int = 1, **options: Any) -> list[Proposal]:
        return await self.apropose_for(self.ready(), n, **options)

    async def apropose_for(self, params: list[Parameter], n: int = 1, **options: Any) -> list[Proposal]:
        if not params:
            return []
        self.prepare(params)
        prompts = [self.messages(p) for p in params]

        async def candidate(i: int) -> Proposal:
            opts = candidate_options(i, n, {"max_tokens": self.max_tokens, **options}, self.temperature)
            with track_usage() as usage:
                results = await asyncio.gather(*(self._aone(p, m, opts) for p, m in zip(params, prompts, strict=True)))
            return self._assemble(params, list(results), usage, i)

        proposals = list(await asyncio.gather(*(candidate(i) for i in range(n))))
        self.remember(params)
        return proposals
