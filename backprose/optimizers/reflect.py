"""Reflect: rewrite each parameter from what it did on the examples, in plain words (GEPA's reflective step).

The model reads the parameter's current value, what it is for, and how the program did on each example of the
minibatch (what was asked, which the trainer passes with the feedback even when the graph does not show it, the
input that reached the parameter's own model call, the output when the feedback does not already quote it,
whether that call's reply stopped at its token limit, and the feedback), worst first and within the token
budget, plus any advice that a reviewer wrote for it (feedback records marked as a `gradient`, such as an agent
network's local gradients) and the values the trainer already refused. It then names the fault (a diagnosis) and
writes a new value, which must not paste an example. One call per parameter and candidate. A text parameter
that a model reads (see `is_prompt`) is asked for as "the model's instructions", without the parameter's name
or description, and without the call's token limit or which replies it cut: told those, the 1.5B optimizer
model wrote "continue ... without stopping at its token limit" (something no instruction can make a model do)
in 6 of 8 samples of the demo's first request, and in none of 8 without them, where 7 of 8 asked for the
bare number the grader wanted.

Why beside OptoPrime: OptoPrime shows the whole program trace, which strong models use well and small
ones drown in (a 0.5-1.5B model tends to copy an output or repeat the old value). A short, concrete
"here is what the grader said, fix it" prompt is one a small local model can follow, and it suits the
common case of prompts and instructions feeding LLM calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from backprose.agent import first_call
from backprose.errors import TalksAboutItself
from backprose.llm.base import estimate_tokens, messages_tokens
from backprose.nodes.node import Node
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import same_text
from backprose.optimizers.exploring import Exploring
from backprose.optimizers.per_parameter import PerParameterOptimizer, Result
from backprose.optimizers.problem import example_input, show, show_ends
from backprose.optimizers.prompts import Templates
from backprose.optimizers.reduce import default_score
from backprose.optimizers.replies import reserve_tokens
from backprose.steps import arun, run
from backprose.trace.graph import minimal_subgraph

__all__ = ["Reflect"]

FIELD_CHARS = (400, 200, 100)  # each input/output/feedback/advice shown at most this long, shrinking to fit
MAX_ADVICE = 3  # reviewer advice texts shown per parameter, in the order they were given
COPY_CHARS = 40  # a text value may not paste this much of one example's input or output
ECHO_CHARS = 30  # nor repeat this much of the request's own words ("... inputs and each result was graded")
SPOKE_ABOUT = ("the new instructions speak about the model or its instructions ({words!r}) instead of to the "
               "model, which reads them word for word; write them as commands (\"Answer with ...\") or as sentences "
               "that start with \"You\"")


@dataclass
class Example:
    """One judged output that a parameter reached: what went in, what came out, what the grader said."""

    inputs: list[str]
    output: str
    feedback: str
    score: float | None = None
    reply: str = ""  # the model call the parameter fed, when it is not the judged output itself
    meta: dict[str, Any] = field(default_factory=dict)
    cut: bool = False  # that model call's reply stopped at its token limit (see `show_node`)
    called: bool = False  # a model call lies on the way from the parameter to this output
    limit: int | None = None  # that call's token limit, when it set one


def examples_for(p: Parameter) -> list[Example]:
    """The examples behind `p.feedback`, one per judged output, worst first (unscored before scored)."""
    found: dict[int, Example] = {}
    for record in p.feedback:
        text = record.user_feedback or record.text
        key = id(record.output)
        if key not in found:
            first = first_call(p, record.output)
            call = None if first is record.output else first  # an agent's own call, behind later steps
            reply = "" if call is None or _text(call) == _text(record.output) else _text(call)
            inputs = _inputs(p, call or record.output)
            asked = example_input([r for r in p.feedback if r.output is record.output], inputs)
            found[key] = Example([asked, *inputs] if asked else inputs, _text(record.output), text, reply=reply,
                                 cut=bool(getattr(first, "truncated", False)), called=first is not None,
                                 limit=getattr(first, "token_limit", None))
        elif text and text not in found[key].feedback:
            found[key].feedback += "\n" + text
        score = record.extra.get("score", default_score(text)) if text else record.extra.get("score")
        if score is not None:
            old = found[key].score
            found[key].score = score if old is None else min(old, score)
    return sorted(found.values(), key=lambda e: float("-inf") if e.score is None else e.score)


def shown_examples(examples: Sequence[Example], count: int) -> list[Example]:
    """The `count` worst of `examples` (sorted worst first), keeping the best-scored one when scores differ:
    beside a failed run, one that worked shows what to do (a small model finds a fault by contrast far
    more often than by reading failures alone)."""
    if count >= len(examples) or count < 2 or examples[-1].score == examples[0].score:
        return list(examples[:count])
    return [*examples[: count - 1], examples[-1]]


def is_prompt(p: Parameter, examples: Sequence[Example]) -> bool:
    """Whether `p` is text that a model reads: every example's way from it to the judged output passes a
    model call. Reflect then asks for "the model's instructions" and leaves out the parameter's name and
    description: shown those, a 1.5B optimizer often wrote about the prompt ("The system prompt should ...")
    instead of writing one."""
    return p.value_type == "text" and bool(examples) and all(e.called for e in examples)


# "The model should answer ...", at a sentence's start (maybe after "Then", "First", ...) or within it ("If unsure,
# the model should pick ..."): a small model's usual way of writing instructions about the model instead of to it
ABOUT_THE_MODEL = re.compile(r"(^|[.!?:;]\s+|\n\s*(?:[-*]|\d+[.)])?\s*)?((?:then|first|next|finally|also|always),?\s+)?"
                            r"\bthe model (?:should|must|needs to|has to|is to)\s+(not\s+)?(\w)", re.IGNORECASE)


def as_commands(text: str) -> str:
    """`text` with each sentence that tells the model what it should do turned into that command: "The model
    should answer with the letter." becomes "Answer with the letter.", "If unsure, the model must not guess"
    becomes "If unsure, do not guess". The same instruction, in the form the model reads as its own."""
    def command(m: re.Match[str]) -> str:
        lead, adverb, negated, first = m.groups()
        said = (adverb or "") + (f"do not {first}" if negated else first)
        if lead is None:  # within a sentence: "If unsure, pick ..."
            return said
        return lead + said[0].upper() + said[1:]

    return ABOUT_THE_MODEL.sub(command, text)


def advice_for(p: Parameter) -> list[str]:
    """What reviewers advised for `p` (feedback records marked as a gradient), each text once, in order."""
    found: list[str] = []
    for record in p.feedback:
        if record.extra.get("gradient") and record.text and record.text not in found:
            found.append(record.text)
    return found


def copied_span(value: str, old: str, examples: Sequence[Example], least: int = COPY_CHARS) -> str | None:
    """A stretch of `value` (at least `least` characters, not in `old`) pasted from what one example showed.

    A paste counts when it carries that example's particulars: a number, or a word that some examples' inputs
    have and others do not (a name, an item, "year" beside "week"). Reasoning that the program wrote in
    general words ("step by step, check which statement is consistent") may be repeated, as may text common
    to every example's input (a shared instruction frame). With a single example nothing tells its words from
    the frame's, so only a number makes a span of what the program wrote a paste.
    """
    per_input = [set(_words(" ".join(e.inputs))) for e in examples]
    particular = set.union(*per_input) - set.intersection(*per_input) if per_input else set()

    def carries_particulars(span: str) -> bool:
        return any(c.isdigit() for c in span) or bool(particular & set(_words(span)))

    for e in examples:
        for text in (e.output, e.reply):
            for span in shared_spans(value, text, old, least):
                if carries_particulars(span):
                    return span
        if len(examples) > 1:
            for text in e.inputs:
                for span in shared_spans(value, text, old, least):
                    if carries_particulars(span) and not all(any(span in t for t in o.inputs) for o in examples):
                        return span
    return None


def shared_spans(value: str, text: str, old: str = "", least: int = COPY_CHARS) -> list[str]:
    """The stretches of `value` that `text` also has (longest first, not overlapping), each at least `least`
    characters long and not in `old`."""
    blocks = SequenceMatcher(None, value, text, autojunk=False).get_matching_blocks()
    spans = [value[b.a: b.a + b.size] for b in blocks if b.size >= least]
    return sorted((s for s in spans if s not in old), key=len, reverse=True)


def _words(text: str) -> list[str]:
    """The words of `text` that can name a particular (three letters or more), in lower case."""
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3]


def _text(node: Node) -> str:
    value = node.value
    return value if isinstance(value, str) else repr(value)


def speaks_of_the_reply(value: str, p: Parameter, examples: Sequence[Example]) -> bool:
    """Whether `value` names the diagnosis key of Reflect's own reply while neither the current value nor any
    example does: a retry's "the reply contains no complete JSON object" was once read as feedback on the
    prompt, which came back as "include the keys 'diagnosis' and 'instruction' ..."."""
    word = re.compile(rf"\b{re.escape(diagnosis_key(p))}\b", re.IGNORECASE)
    seen = [str(p._value), *(t for e in examples for t in (*e.inputs, e.output, e.reply))]
    return bool(word.search(value)) and not any(word.search(t) for t in seen)


def diagnosis_key(p: Parameter) -> str:
    """The reply's key for the diagnosis, clear of the parameter's own name."""
    return "diagnosis" if p.name != "diagnosis" else "diagnosis_of_the_fault"


def _inputs(p: Parameter, end: Node) -> list[str]:
    """Values that entered the path from `p` to `end` (its own model call, else the judged output) from
    outside it: the example's inputs, or what an earlier step made of them (an agent network's layer
    input), since that is what `p` worked on. What joins after its call (a teammate's reply in a vote) is
    not its input."""
    path = minimal_subgraph([p], end)
    on_path = {id(n) for n in path}
    seen: set[int] = set()
    found = []
    for node in path:
        for parent in node.inputs:
            if id(parent) in on_path or id(parent) in seen or isinstance(parent, Parameter):
                continue
            seen.add(id(parent))
            found.append(_text(parent))
    return found


class Reflect(PerParameterOptimizer):
    """Rewrite parameters from their examples' inputs, outputs and feedback; see the module docstring.

    Options: `budget` (tokens per prompt), `max_examples` (shown at most, worst first), `temperature`,
    `max_tokens` (of the reply), `workers` (concurrent calls), `templates` (overriding `reflect_system.j2`
    / `reflect_user.j2`), `explore` (see `Exploring`).
    """

    def __init__(self, parameters: Iterable[Parameter] | Iterable[Mapping[str, Any]], llm: Any = None, *,
                 budget: int = 3000, max_examples: int = 8, temperature: float = 0.0, max_tokens: int = 400,
                 workers: int = 4, templates: Any = None, explore: bool = False, **options: Any) -> None:
        super().__init__(parameters, llm, **options)
        self.explore = Exploring(self) if explore else None
        self.templates = Templates(templates)
        self.budget = budget
        self.max_examples = max_examples
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.workers = workers
        self._reserve = reserve_tokens(self.schema(Parameter("", name="x" * 40)), self.templates)
        if budget < self._reserve + 300:
            raise ValueError(f"budget={budget} tokens cannot hold even the instructions; give at least "
                             f"{self._reserve + 300}")

    # --- the prompt ---------------------------------------------------------------------------------------
    def messages(self, p: Parameter, problems: Sequence[str] = ()) -> list[dict[str, str]]:
        """The prompt for `p` within the budget: fewer and shorter examples until it fits. Changes nothing.
        `problems` are what was wrong with the previous answer, for an exploring retry."""
        examples = examples_for(p)
        prompt = is_prompt(p, examples)
        system = self.templates.render("reflect_system.j2", prompt=prompt)
        limit = self.budget - self._reserve - estimate_tokens(system) - 16
        most = min(len(examples), self.max_examples)
        value_cap = max(limit * 4 * 2 // 5, 200)  # the value whole, unless it would crowd out the examples
        user = ""
        for cap in FIELD_CHARS:  # shorter fields only once even one example does not fit
            for count in range(most, 0, -1) or [0]:  # drop the best-scored first, yet keep one to compare
                user = self._render(p, shown_examples(examples, count), len(examples) - count, cap, value_cap,
                                    problems, prompt)
                if messages_tokens([{"content": user}]) <= limit:
                    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        user = user[: max(limit * 4 - 80, 0)] + "\n[cut to fit the budget]"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _render(self, p: Parameter, examples: Sequence[Example], omitted: int, cap: int, value_cap: int,
                problems: Sequence[str] = (), prompt: bool = False, value: str | None = None) -> str:
        kind = p.value_type + (f" in [{p.bounds[0]}, {p.bounds[1]}]" if p.bounds else "")
        if p.value_type == "code":
            kind += f"; keep `def {getattr(p, 'func_name', '')}({getattr(p, 'signature_text', '')})`"
        shown = [{"inputs": [show_ends(i, cap) for i in e.inputs], "reply": show_ends(e.reply, cap) if e.reply else "",
                  "output": "" if e.output.strip() and e.output.strip()[:60] in e.feedback else show(e.output, cap),
                  "feedback": show(e.feedback, cap), "score": e.score, "cut": e.cut} for e in examples]
        advice = [show(a, cap) for a in advice_for(p)[:MAX_ADVICE]]
        refused = [{"value": show(r["value"], cap), "reason": r["reason"]} for r in self.refusals(p)]
        scores = {e.score for e in examples if e.score is not None}
        limit = min((e.limit for e in examples if e.limit), default=None)
        value = show(p._value, value_cap) if value is None else value
        return self.templates.render("reflect_user.j2", name=p.name, kind=kind, value=value,
                                     role=p.description or "", constraint=p.constraint or "", examples=shown,
                                     prompt=prompt, limit=limit,
                                     omitted=omitted, advice=advice, refused=refused, why=diagnosis_key(p),
                                     contrast=len(scores) > 1, problems=[show(x, cap) for x in problems],
                                     angle=self.explore.angle(p) if self.explore else None)

    def frame(self, p: Parameter, prompt: bool) -> str:
        """This request's own words for `p` (its instructions, headings and closing lines), without the current
        value or any example: a new value must not repeat them."""
        user = self._render(p, [], 0, FIELD_CHARS[-1], 0, (), prompt, value="")
        return self.templates.render("reflect_system.j2", prompt=prompt) + "\n" + user

    # --- exploring retries -------------------------------------------------------------------------------
    def _one(self, p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> Result:
        if self.explore is None:
            return super()._one(p, messages, opts)
        return run(self.explore.asking(p, messages, opts))

    async def _aone(self, p: Parameter, messages: list[dict[str, str]], opts: dict[str, Any]) -> Result:
        if self.explore is None:
            return await super()._aone(p, messages, opts)
        return await arun(self.explore.asking(p, messages, opts))

    def prepare(self, params: Sequence[Parameter]) -> None:
        if self.explore is not None:
            self.explore.start(params)

    def record_refusal(self, update: Any, reason: str) -> None:
        super().record_refusal(update, reason)
        self.explore_after(update)

    def explore_after(self, update: Any) -> None:
        """The trainer refused `update`: the next request for each of this optimizer's refused values explores."""
        if self.explore is not None:
            self.explore.refused(update)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "explore": self.explore.state_dict()} if self.explore else state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if self.explore is not None:
            self.explore.load_state_dict(state.get("explore") or {})

    # --- the reply ----------------------------------------------------------------------------------------
    def schema(self, p: Parameter) -> Mapping[str, Any]:
        value: dict[str, Any] = {"type": "string"} if p.value_type in ("text", "code") else {}
        # the diagnosis comes first so the model names the fault before it writes the fix
        why = diagnosis_key(p)
        return {"type": "object", "properties": {why: {"type": "string"}, p.name: value}, "required": [why, p.name]}

    @staticmethod
    def suggested(raw: Any, prompt: bool) -> Any:
        """The reply's value; for a prompt, with sentences about the model turned into commands."""
        return as_commands(raw) if prompt and isinstance(raw, str) else raw

    def read(self, p: Parameter, reply: Mapping[str, Any]) -> tuple[Any, str]:
        why = str(reply.get(diagnosis_key(p)) or "").strip() or "rewritten from the feedback on its examples"
        raw = reply[p.name]
        value = self.suggested(raw, is_prompt(p, examples_for(p)))
        turned = " (its sentences about the model were taken as commands)" if value != raw else ""
        return p.check(value), f"{p.name}: {why}{turned}"

    def salvage(self, p: Parameter, err: Any) -> tuple[Any, str]:
        if isinstance(err.value, dict) and p.name in err.value:
            value = self.suggested(err.value[p.name], is_prompt(p, examples_for(p)))
            return value, f"{p.name}: {'; '.join(err.problems)}"
        return None, f"{p.name}: the model's reply was unusable: {'; '.join(err.problems)}"

    def check(self, p: Parameter, reply: Any) -> list[str]:
        if not isinstance(reply, dict) or p.name not in reply:
            return [f'the reply must be a JSON object with the key "{p.name}" holding the new value']
        examples = examples_for(p)  # one walk of the graph for every check below
        prompt = is_prompt(p, examples)
        try:
            new = p.check(self.suggested(reply[p.name], prompt))
        except TalksAboutItself as exc:  # worded as this request was: a prompt's request never says "parameter"
            return [SPOKE_ABOUT.format(words=exc.words) if prompt else str(exc)]
        except Exception as exc:  # InvalidUpdate, or a projection's own error
            return [str(exc)]
        if same_text(new, p._value):
            return [f"the new value of {p.name} is the same as the current one (apart from case, spacing or end "
                    "punctuation at most); write a different value that fixes the problems in the feedback"]
        if p.value_type == "text" and isinstance(new, str):
            span = copied_span(new, str(p._value), examples)
            if span:
                return [f"the new value of {p.name} pastes text from one example ({span[:80]!r}); write general "
                        "instructions that work for any input, without that example's details"]
            if echo := next(iter(shared_spans(new, self.frame(p, prompt), str(p._value), ECHO_CHARS)), ""):
                return [f"the new value of {p.name} repeats this request's own words ({echo[:80]!r}); write only "
                        "what the model is to read"]
            if speaks_of_the_reply(new, p, examples):
                return [f"the new value of {p.name} speaks of the reply you write here (its '{diagnosis_key(p)}' "
                        "key); write only what the model is to read when it answers an input"]
        return []

