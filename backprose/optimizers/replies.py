"""Strict replies: ask for JSON, check it (shape and every suggested value), retry once saying what was wrong.

Raw text is never adopted as a value: a reply is usable only if it parses as the requested JSON and each
suggestion coerces to its parameter's type. Otherwise the model gets one more chance with the list of
problems (`retries`, default 1; 0 when every request must count), and then `ReplyFormatError` carries the
reply and the problems to the caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from backprose.errors import InvalidUpdate, ReplyFormatError
from backprose.llm.base import estimate_tokens, normalize_messages
from backprose.llm.structured import ECHO_CHARS, PROBLEM_CHARS, capped, check, render, response_format
from backprose.nodes.parameter import Parameter
from backprose.optimizers.base import Proposal, check_retries
from backprose.optimizers.prompts import Templates
from backprose.steps import Call, Steps, arun, run

logger = logging.getLogger(__name__)
Checker = Callable[[Any], list[str]]


def instructions(schema: Mapping[str, Any] | None) -> str:
    return render("json_instructions.j2", schema=json.dumps(schema, indent=2) if schema else "")


def reserve_tokens(schema: Mapping[str, Any] | None, templates: Templates) -> int:
    """Tokens a request adds beyond the optimizer's own prompt: JSON instructions plus a possible retry."""
    note = templates.render("reply_retry.j2", problems=["x" * PROBLEM_CHARS])
    return estimate_tokens(instructions(schema)) + estimate_tokens(note) + ECHO_CHARS // 4 + 3 * 4 + 8


def _with_instructions(messages: list[dict[str, Any]], schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    text = instructions(schema)
    if messages and messages[0]["role"] == "system":
        return [dict(messages[0], content=f"{messages[0]['content']}\n\n{text}"), *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _options(llm: Any, schema: Mapping[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    style = getattr(llm, "response_format_style", None)
    fmt = response_format(style, schema, "suggestion") if style else None
    return {**options, "response_format": fmt} if fmt is not None else dict(options)


def _problems(text: str, schema: Mapping[str, Any] | None, checker: Checker) -> tuple[Any, list[str]]:
    value, problems = check(text, schema)
    if not problems:
        problems = checker(value)
    return value, problems


def _retry(asked: list[dict[str, Any]], reply: str, problems: list[str], templates: Templates) -> list[dict]:
    shown, listed = capped(reply, problems)
    note = templates.render("reply_retry.j2", problems=listed)
    return [*asked, {"role": "assistant", "content": shown}, {"role": "user", "content": note}]


def asking_json(llm: Any, messages: Any, schema: Mapping[str, Any] | None, checker: Checker,
                 templates: Templates, log: list[dict[str, Any]] | None, retries: int,
                 options: dict[str, Any], *, last: bool = True) -> Steps[Any]:
    """The whole exchange, once for both drivers: each model call is one yielded `Call`; returns the checked
    value or raises ReplyFormatError. `last=False` says the caller may ask again itself, so a reply still
    unusable here is logged as information, not yet warned about."""
    asked = _with_instructions(normalize_messages(messages), schema)
    request = asked
    for attempt in range(1 + check_retries(retries)):
        text = (yield Call(llm.complete, llm.acomplete, (request,), _options(llm, schema, options))).text
        value, problems = _problems(text, schema, checker)
        if log is not None:
            log.append({"kind": "prompt", "attempt": attempt, "messages": request, "reply": text,
                        "problems": problems})
        if not problems:
            return value
        if attempt < retries:
            logger.info("the reply did not check (%s); asking again", _short(problems))
        request = _retry(asked, text, problems, templates)
        # a deterministic model would repeat itself: the retry samples warmer
        options = {**options, "temperature": max(0.7, float(options.get("temperature") or 0.0))}
    logger.log(logging.WARNING if last else logging.INFO, "the reply stayed unusable after %d attempt(s): %s",
               retries + 1, _short(problems))
    raise ReplyFormatError(text, problems, value)


def ask_json(llm: Any, messages: Any, schema: Mapping[str, Any] | None, checker: Checker,
             templates: Templates, log: list[dict[str, Any]] | None = None, *, retries: int = 1,
             **options: Any) -> Any:
    """The parsed reply once it passes `checker`; at most `1 + retries` calls (a retry samples warmer, since a
    deterministic model would repeat itself); ReplyFormatError otherwise."""
    return run(asking_json(llm, messages, schema, checker, templates, log, retries, options))


async def aask_json(llm: Any, messages: Any, schema: Mapping[str, Any] | None,
                    checker: Checker, templates: Templates, log: list[dict[str, Any]] | None = None, *,
                    retries: int = 1, **options: Any) -> Any:
    """Async `ask_json`: the same requests, the same value or error."""
    return await arun(asking_json(llm, messages, schema, checker, templates, log, retries, options))


def _short(problems: list[str]) -> str:
    text = "; ".join(problems)
    return text if len(text) <= 300 else text[:297] + "..."


# --- checking suggested values --------------------------------------------------------------------------


def check_values(params: Mapping[str, Parameter], suggestion: Any, *, require_all: bool = False) -> list[str]:
    """Problems with a {name: value} suggestion: unknown names, missing names, values of the wrong type."""
    if not isinstance(suggestion, Mapping):
        return [f"the suggestion must be an object mapping variable names to new values, got "
                f"{type(suggestion).__name__}"]
    problems = [f"{name!r} is not a trainable variable; use only {', '.join(map(repr, params))}"
                for name in suggestion if name not in params]
    if require_all:
        problems += [f"give a new value for {name!r}" for name in params if name not in suggestion]
    for name, raw in suggestion.items():
        if name in params:
            try:
                params[name].check(raw)
            except InvalidUpdate as exc:
                problems.append(str(exc))
            except Exception as exc:  # a projection's own error
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
    return problems


def values_of(params: Mapping[str, Parameter], suggestion: Mapping[str, Any]) -> dict[Parameter, Any]:
    """Suggestion by parameter, as the model wrote it: apply() checks each one (`Parameter.check`)."""
    return {params[name]: raw for name, raw in suggestion.items() if name in params}


# --- replies as proposals (shared by the optimizers that ask for {"reasoning", "suggestion"}) -------------

SUGGESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "suggestion": {"type": "object"}},
    "required": ["reasoning", "suggestion"],
}


def reply_proposal(reply: Any, names: dict[str, Parameter], usage: Any, i: int) -> Proposal:
    return Proposal(values_of(names, reply["suggestion"]), str(reply.get("reasoning", "")), usage.as_dict(),
                    {"candidate": i})


def failed_proposal(err: ReplyFormatError, usage: Any, i: int, names: dict[str, Parameter]) -> Proposal:
    """A reply that stayed malformed: its parsed suggestions still go to apply(), which reports each one."""
    reply = err.value if isinstance(err.value, dict) else {}
    suggestion = reply.get("suggestion")
    if isinstance(suggestion, dict) and suggestion:
        logger.info("using the parsed suggestions of a reply that did not check; apply() judges each value")
        return Proposal(values_of(names, suggestion), str(reply.get("reasoning", "")), usage.as_dict(),
                        {"candidate": i, "problems": err.problems})
    return Proposal({}, f"the model's reply was unusable: {'; '.join(err.problems)}", usage.as_dict(),
                    {"candidate": i, "problems": err.problems, "raw": err.raw})
