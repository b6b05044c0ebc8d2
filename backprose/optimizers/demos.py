"""Demos: keep the model's own full-marks runs as worked examples, as DSPy's BootstrapFewShot does.

For every worked-examples parameter (a `bp.Agent(demos=[...])`'s `demos`, or a `bp.param([])` passed as
`demos=` to `bp.call_llm`) it proposes adding the (input, reply) pairs of the minibatch's runs that scored
full marks: the input that model call got and the reply the model gave. It keeps at most `k`, the oldest
going first. It makes no model call: a correct run is its own proof, so this needs no strong optimizer model,
and a small model follows a shown example far more reliably than an instruction. The trainer's gate judges
the new list like any other change. Full-marks runs of earlier minibatches are banked (the last 16 per
parameter, in the optimizer's state): on a minibatch with none of its own, the newest banked run not held
yet is offered instead, so a hard minibatch still gets a free candidate.

A full-marks run whose reply was cut at the model's token limit is not kept: a guide may find the right
answer inside an unfinished ramble, but shown as a worked example it teaches the model to ramble. Its
example is not lost: the trainer gives it a reference reply as it does a missed one (below).

A missed (or cut) run whose example has a reference reply (`Feedback.reference`: the trainer gives the
example's target when the guide scores that target full marks) yields a labeled worked example, the input
with the reference as its reply, as DSPy's labeled demos do; only where the model call's reply is itself
the judged output, since a target is no reply for a call in the middle of a program. A small model that cannot yet
answer right gets its worked examples this way, which its own runs would never give it.

Labeled examples need no run, so when the minibatch has fewer than `k` to give, the trainer also offers
(`offer`) the targets of train examples outside it. They are taken only when every run of the minibatch
shows the model call getting the example's input verbatim and replying with the judged output: then the
same input with its target is exactly the turn a right run would have made. A program that rewrites its
input before the call gets no such example, since the call's input for an unrun example is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from backprose.agent import check_demos, first_call
from backprose.errors import InvalidUpdate
from backprose.llm.base import estimate_tokens
from backprose.nodes.message import ErrorNode, Message
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Optimizer, Proposal
from backprose.optimizers.problem import input_text
from backprose.optimizers.reduce import default_score
from backprose.trace.graph import minimal_subgraph

__all__ = ["Demos", "add_demos", "is_worked_examples", "labeled", "own_example", "passes_input_through",
           "worked_example"]

logger = logging.getLogger(__name__)
BANK = 16  # full-marks runs remembered per parameter, for minibatches without one of their own


def is_worked_examples(p: Parameter) -> bool:
    """Whether `p` holds worked examples: a list (maybe empty) of {"input": text, "reply": text}."""
    if p.value_type != "json" or not isinstance(p._value, list):
        return False
    try:
        check_demos(p._value)
    except InvalidUpdate:
        return False
    return True


def worked_example(p: Node, output: Node, asked: Any = None) -> tuple[str, str] | None:
    """(input, reply) of the first model call `p` fed on the way to `output`: what that call was asked and
    what the model answered. None when the run did not reach a model call (or the call failed).

    The call's input is, in this order: the question of an agent's composed prompt (without the
    instructions, which the agent puts back before every example); a prompt the program made that holds
    the example's input `asked` (what the trainer called the program with); any prompt the program made;
    else `asked` itself (a program that passes the raw input straight to the call leaves no node for it).
    """
    return _call_example(p, first_call(p, output), asked)


def _call_example(p: Node, call: Node | None, asked: Any) -> tuple[str, str] | None:
    """`worked_example` once the call is found: `own_example` looks it up first, so the graph is walked once."""
    if call is None or isinstance(call, ErrorNode):
        return None
    path = {id(n) for n in minimal_subgraph([p], call)}
    feeders = [x for x in call.parents if id(x) not in path and not isinstance(x, Parameter)]
    asked_text = input_text(asked) if asked is not None else ""
    core = asked_text.strip()
    given: str | None = None
    for node in reversed(feeders):
        if isinstance(node, Message) and node.op.name == "compose_prompt":
            given = _question(node)
            break
    if given is None:
        holding = [x for x in feeders if core and core in str(x._value)]
        made = [x for x in feeders if isinstance(x, Message)]
        pick = holding or made
        given = (str(pick[-1]._value) if pick else asked_text if asked is not None
                 else str(feeders[-1]._value) if feeders else None)
    return None if given is None else (given, str(call._value))


def own_example(p: Node, output: Node, asked: Any = None) -> tuple[str, str] | None:
    """`worked_example` of a full-marks run, to keep with the model's own reply; None (logged) when that reply
    was cut at its token limit. However the guide scored it, an unfinished reply shown as a worked example
    teaches the model to answer the same way: to ramble and stop mid-answer."""
    call = first_call(p, output)
    if isinstance(call, Message) and call.truncated:
        logger.info("%s: left out a full-marks run as a worked example: its reply was cut at the model's token "
                    "limit: %r", p.name, str(call._value)[-120:])
        return None
    return _call_example(p, call, asked)


def _question(prompt: Message) -> str:
    """What an agent's composed prompt holds after its instructions."""
    text = str(prompt._value)
    head = str(prompt.parents[0]._value) if prompt.parents else ""
    if prompt.parents and isinstance(prompt.parents[0], Parameter) and head and text.startswith(head + "\n\n"):
        return text[len(head) + 2:]
    others = [x for x in prompt.inputs if not isinstance(x, Parameter)]
    return str(others[-1]._value) if others else text


def solved(records: Iterable[Any]) -> list[tuple[Node, Any]]:
    """(judged output, its example's input) of each run that scored full marks, once per output, in order."""
    found: dict[int, tuple[Node, Any, float | None]] = {}
    for record in records:
        if record.extra.get("gradient"):
            continue
        text = record.user_feedback or record.text
        score = record.extra.get("score", default_score(text) if text else None)
        key = id(record.output)
        if key not in found:
            found[key] = (record.output, record.example_input, score)
        elif score is not None:
            old = found[key][2]
            found[key] = (record.output, record.example_input, score if old is None else min(old, score))
    return [(out, asked) for out, asked, score in found.values() if score is not None and score >= 1]


def _runs(records: Iterable[Any], keep: Any = None) -> Iterator[Any]:
    """The first feedback record of each judged output (gradients left out) that `keep` accepts, in order."""
    seen: set[int] = set()
    for record in records:
        if record.extra.get("gradient") or id(record.output) in seen or (keep is not None and not keep(record)):
            continue
        seen.add(id(record.output))
        yield record


def labeled(p: Node, records: Iterable[Any]) -> list[tuple[str, str]]:
    """(input, reference) of each run given a reference reply (a missed or cut one) whose judged output is the
    reply of the first call `p` fed (see the module docstring), once per output, in order."""
    out: list[tuple[str, str]] = []
    for record in _runs(records, lambda r: r.reference is not None):
        if first_call(p, record.output) is not record.output:
            continue
        pair = worked_example(p, record.output, record.example_input)
        if pair is not None:
            out.append((pair[0], str(record.reference)))
    return out


def passes_input_through(p: Node, records: Iterable[Any]) -> bool:
    """Whether every run in `records` (at least one) fed its example's input, as it is, to the first call
    `p` feeds, and that call's reply is the judged output: then an unrun example's input and target make
    the turn a right run would have made."""
    runs = list(_runs(records))
    return bool(runs) and all(_passes_through(p, record) for record in runs)


def _passes_through(p: Node, record: Any) -> bool:
    if record.example_input is None or first_call(p, record.output) is not record.output:
        return False
    pair = worked_example(p, record.output, record.example_input)
    return pair is not None and pair[0] == input_text(record.example_input)


def add_demos(held: Sequence[Mapping[str, str]], pairs: Iterable[tuple[str, str]], k: int,
              max_tokens: int | None = None) -> list[dict[str, str]]:
    """`held` plus each pair whose input it does not hold yet, newest last, keeping the last `k`, and of
    those the newest that fit in `max_tokens` (estimated) when given; a pair too long to fit on its own is
    not added (it would only push the others out)."""
    out = [dict(d) for d in held]
    for given, reply in pairs:
        new = {"input": given, "reply": reply}
        if max_tokens is not None and demo_tokens([new]) > max_tokens:
            continue
        if given.strip() and reply.strip() and all(d["input"] != given for d in out):
            out.append(new)
    out = out[-k:] if k else []
    if max_tokens is not None:
        while out and demo_tokens(out) > max_tokens:
            del out[0]
    return out


def demo_tokens(demos: Sequence[Mapping[str, str]]) -> int:
    """Estimated prompt tokens of a worked-example list: each example is a user and an assistant turn."""
    return sum(estimate_tokens(d["input"]) + estimate_tokens(d["reply"]) + 8 for d in demos)


class Demos(Optimizer):
    """Add the minibatch's full-marks runs, and missed inputs with targets the guide accepts, to each
    worked-examples parameter; see the module docstring.

    `k` is how many worked examples a parameter keeps at most, and `max_tokens` (if given) how many prompt
    tokens (estimated) they may take together: the oldest go first when they would take more, so long
    inputs never crowd the question out of the model's context. `labeled=False` keeps only the model's own
    full-marks runs (no targets as replies). Parameters that do not hold worked examples are left alone
    (another optimizer may handle them, as the default recipe does).
    """

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 k: int = 3, max_tokens: int | None = None, labeled: bool = True, **options: Any) -> None:
        super().__init__(parameters, llm, **options)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r}: give how many worked examples a parameter keeps at most (1 or more)")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens < 1):
            raise ValueError(f"max_tokens={max_tokens!r}: give the prompt tokens the worked examples may take "
                             "together (1 or more), or None for no limit")
        self.k = k
        self.max_tokens = max_tokens
        self.labeled = labeled
        self.bank: dict[str, list[list[str]]] = {}  # parameter name -> [input, reply] of full-marks runs
        self.spares: Iterator[tuple[Any, str]] | None = None  # this step's labeled examples outside the minibatch

    def offer(self, spares: Iterable[tuple[Any, str]]) -> None:
        """(input, target) of train examples outside this step's minibatch, each target one the guide gives
        full marks; drawn lazily, only as far as a list short of `k` needs (see the module docstring).
        The offer lasts until `zero_feedback`."""
        self.spares = iter(spares)

    def zero_feedback(self) -> None:
        super().zero_feedback()
        self.spares = None

    @property
    def uses_references(self) -> bool:
        """Asks the trainer for reference replies of missed examples (see the module docstring)."""
        return self.labeled and bool(self.targets())

    def targets(self) -> list[Parameter]:
        return [p for p in self.parameters if is_worked_examples(p)]

    def values_for(self, params: Iterable[Parameter]) -> dict[Parameter, tuple[list[dict[str, str]], str]]:
        """The new list, and what it adds, for each of `params` that has a full-marks run or a labeled example
        it does not hold yet (and whose new list was not refused before)."""
        values = {}
        for p in params:
            if not p.trainable or not is_worked_examples(p):
                continue
            pairs = [pair for out, asked in solved(p.feedback) if (pair := own_example(p, out, asked))]
            bank = self.bank.setdefault(p.name, [])  # the model's own runs only; a target comes back whenever
            # its example is missed again
            for given, reply in pairs:
                if [given, reply] not in bank:
                    bank.append([given, reply])
            del bank[:-BANK]
            # labeled ones first: the model's own full-marks replies are kept over them when `k` cuts
            targets = labeled(p, p.feedback) if self.labeled else []
            spare = self._spares_for(p, [*targets, *pairs]) if self.labeled else []
            pairs = [*targets, *spare, *pairs]
            tries = [self._add(p, pairs)] + [self._add(p, [(g, r)]) for g, r in reversed(bank)]
            for i, value in enumerate(tries):
                if value == p._value:
                    continue
                repeat = self.repeats_refusal(p, value)
                if repeat:
                    logger.info("Demos: skipped a worked-example list already refused: %s", repeat[:200])
                    continue
                if i:
                    logger.info("Demos: %s: no new full-marks run in this minibatch; offering one from an "
                                "earlier minibatch", p.name)
                values[p] = (value, _described(p._value, value, set(targets), set(spare)))
                break
        return values

    def _add(self, p: Parameter, pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        """`p`'s list with `pairs` added, within `k` and `max_tokens`; says so when the tokens cut it."""
        value = add_demos(p._value, pairs, self.k, self.max_tokens)
        if self.max_tokens is not None and len(value) < len(add_demos(p._value, pairs, self.k)):
            logger.info("Demos: %s: kept the newest %d worked example(s), which fit in max_tokens=%d",
                        p.name, len(value), self.max_tokens)
        return value

    def _spares_for(self, p: Parameter, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Offered labeled examples that fill `p`'s list up to `k` (and `max_tokens`) beside `pairs`, when its
        runs show the call gets the example's input verbatim; drawn from the offer, so a later parameter gets
        the next, and no further than the list has room for (each draw may cost a judgement of its target)."""
        room = self.k - len(add_demos(p._value, pairs, self.k + len(pairs)))
        if room <= 0 or self.spares is None or not passes_input_through(p, p.feedback):
            return []
        tokens = None if self.max_tokens is None else self.max_tokens - demo_tokens(
            [{"input": given, "reply": reply} for given, reply in pairs])
        held = {d["input"] for d in p._value} | {given for given, _ in pairs}
        out: list[tuple[str, str]] = []
        for given, reply in self.spares:
            text = input_text(given)
            if text.strip() and text not in held:
                if tokens is not None:
                    tokens -= demo_tokens([{"input": text, "reply": reply}])
                    if tokens < 0:
                        break
                held.add(text)
                out.append((text, reply))
                if len(out) == room:
                    break
        return out

    def propose(self, n: int = 1, **options: Any) -> list[Proposal]:
        """At most one proposal (the examples are taken, not sampled); none when no run scored full marks."""
        proposal = self.proposal_for(self.ready())
        return [proposal] if proposal is not None else []

    def proposal_for(self, params: Iterable[Parameter]) -> Proposal | None:
        """The proposal over `params` (those holding worked examples), for a caller that chose them."""
        ready = [p for p in params if is_worked_examples(p)]
        found = self.values_for(ready)
        if not found:
            if ready:
                logger.info("Demos: no new run with full marks, nor a missed input with an accepted target, to "
                            "keep as a worked example")
            return None
        reasoning = "; ".join(f"{p.name}: {said}" for p, (_, said) in found.items())
        self.log.append({"kind": "demos", "parameters": [p.name for p in found]})
        return Proposal({p: value for p, (value, _) in found.items()}, reasoning, {}, {"demos": True})

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "bank": {name: [list(x) for x in runs] for name, runs in self.bank.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.bank = {name: [list(x) for x in runs] for name, runs in (state.get("bank") or {}).items()}

    def no_proposal(self) -> str:
        if any(p.feedback for p in self.targets()):
            return ("no run of the minibatch scored full marks, and no missed one has a target the guide accepts, "
                    "with an input the worked examples do not hold")
        return super().no_proposal()


def _described(held_list: Sequence[Mapping[str, str]], value: Sequence[Mapping[str, str]],
               targets: set[tuple[str, str]], spare: set[tuple[str, str]]) -> str:
    """What `value` adds to `held_list`, by kind: the model's own full-marks runs, labeled `targets` of missed
    runs, or labeled `spare` examples from outside the minibatch."""
    held = {d["input"] for d in held_list}
    new = [(d["input"], d["reply"]) for d in value if d["input"] not in held]
    by_target = sum(1 for pair in new if pair in targets)
    by_spare = sum(1 for pair in new if pair in spare and pair not in targets)
    own = len(new) - by_target - by_spare
    parts = ([f"the input and reply of {own} run(s) that scored full marks"] if own else []) + (
        [f"{by_target} missed (or cut) input(s) with the target the guide accepts as the reply"] if by_target
        else []) + (
        [f"{by_spare} training input(s) not run this step, with the target the guide accepts as the reply"]
        if by_spare else [])
    return "keep as worked examples " + " and ".join(parts)
