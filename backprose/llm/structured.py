"""Structured output: ask for JSON matching a schema, check it, repair once, or fail with the raw text.

Servers differ in how they constrain output: OpenAI and vLLM take `{"type": "json_schema", ...}`,
llama-cpp-python's server takes `{"type": "json_object", "schema": ...}` (compiled to a grammar), others
only plain `json_object` or nothing. A client may declare its style in `response_format_style`; when it
does not, the styles are tried in that order and the first one the server accepts is remembered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from backprose.errors import LLMFormatError, LLMServerError
from backprose.llm.base import LLM, Completion, Message, Messages, normalize_messages
from backprose.llm.schema import validate
from backprose.steps import Call, Steps, arun, run

log = logging.getLogger(__name__)
STYLES = ("json_schema", "json_object_schema", "json_object", "none")
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(name: str, **variables: Any) -> str:
    return _templates().get_template(name).render(**variables).strip()


def extract_json(text: str) -> Any:
    """The first JSON value in `text`, tolerating ```json fences and prose around it; ValueError if none.

    Raw newlines and tabs inside strings are accepted: small models and llama.cpp's JSON grammar emit them,
    and the reply means exactly what it says. So are Python's triple-quoted strings, which code-writing
    models put in JSON for multi-line values: the quotes delimit the value unambiguously.
    """
    try:
        return _first_json(text)
    except ValueError:
        if '"""' not in text and "'''" not in text:
            raise
    try:
        return _first_json(_TRIPLE_QUOTED.sub(_as_json_string, text))
    except ValueError:
        raise ValueError('the reply contains no complete JSON object or array (JSON has no """triple-quoted""" '
                         "strings: write a multi-line value as one JSON string with \\n for each line break)") from None


_TRIPLE_QUOTED = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)


def _as_json_string(match: re.Match[str]) -> str:
    body = match.group(2)
    return json.dumps(body[1:] if body.startswith("\n") else body)


def _first_json(text: str) -> Any:
    stripped = text.strip()
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [stripped]
    decoder = json.JSONDecoder(strict=False)
    for candidate in candidates:
        try:
            return decoder.decode(candidate)
        except ValueError:
            pass
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return value
    if not stripped:
        raise ValueError("the reply is empty")
    raise ValueError("the reply contains no complete JSON object or array")


def check(text: str, schema: Mapping[str, Any] | None) -> tuple[Any, list[str]]:
    """Parse and validate; returns the value and the list of problems (empty when usable)."""
    try:
        value = extract_json(text)
    except ValueError as err:
        return None, [str(err)]
    return value, validate(value, schema)


def response_format(style: str, schema: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The `response_format` option for a server of the given style."""
    if style == "none":
        return None
    if schema is None or style == "json_object":
        return {"type": "json_object"}
    if style == "json_object_schema":
        return {"type": "json_object", "schema": dict(schema)}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema), "strict": False}}


def _with_instructions(messages: list[Message], schema: Mapping[str, Any] | None) -> list[Message]:
    text = render("json_instructions.j2", schema=json.dumps(schema, indent=2) if schema else "")
    if messages[0]["role"] == "system":
        first = dict(messages[0], content=f"{messages[0]['content']}\n\n{text}")
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


ECHO_CHARS = 1200  # how much of a bad reply a repair request shows back
PROBLEM_CHARS = 800  # the problems a repair request lists, all together
ONE_PROBLEM_CHARS = 300  # one problem at most (a refusal may quote a long value)


def capped(reply: str, problems: list[str]) -> tuple[str, list[str]]:
    """The bad reply and its problems as a repair request shows them, within fixed sizes: a long reply or
    a long list must not make the retry bigger than the budget the first request kept to."""
    shown = reply if len(reply) <= ECHO_CHARS else reply[: ECHO_CHARS - 20] + " ...[reply cut]"
    listed: list[str] = []
    used = 0
    for problem in problems:
        problem = problem if len(problem) <= ONE_PROBLEM_CHARS else problem[: ONE_PROBLEM_CHARS - 5] + " ..."
        if used + len(problem) > PROBLEM_CHARS:
            listed.append(f"... and {len(problems) - len(listed)} more problems")
            break
        listed.append(problem)
        used += len(problem)
    return shown, listed


def _repair_messages(
    messages: list[Message], reply: str, problems: list[str], schema: Mapping[str, Any] | None
) -> list[Message]:
    shown, listed = capped(reply, problems)
    note = render("json_repair.j2", problems=listed, schema=json.dumps(schema, indent=2) if schema else "")
    return [*messages, {"role": "assistant", "content": shown}, {"role": "user", "content": note}]


def _styles(client: LLM) -> tuple[str, ...]:
    style = getattr(client, "response_format_style", None)
    return (style,) if style else STYLES


def _remember(client: LLM, style: str) -> None:
    try:
        client.response_format_style = style  # type: ignore[attr-defined]
    except AttributeError:
        pass


def _rejected_format(err: LLMServerError) -> bool:
    return err.status in (400, 415, 422)


def _options(style: str, schema: Mapping[str, Any] | None, name: str, options: dict[str, Any]) -> dict:
    fmt = response_format(style, schema, name)
    return {**options, "response_format": fmt} if fmt is not None else dict(options)


def _asking(client: LLM, messages: list[Message], schema, name, options) -> Steps[Completion]:
    """One request, in the first response_format style the server accepts (remembered for the next ones)."""
    styles = _styles(client)
    for i, style in enumerate(styles):
        try:
            completion = yield Call(client.complete, client.acomplete, (messages,),
                                    _options(style, schema, name, options))
        except LLMServerError as err:
            if i + 1 < len(styles) and _rejected_format(err):
                log.info("the server refused response_format style %r (HTTP %s); trying %r", style, err.status,
                         styles[i + 1])
                continue
            raise
        if len(styles) > 1:
            _remember(client, style)
        return completion
    raise AssertionError("unreachable")


def _completing_json(client: LLM, messages: Messages, schema: Mapping[str, Any] | None, name: str, repair: bool,
                     options: dict[str, Any]) -> Steps[dict[str, Any] | list[Any]]:
    asked = _with_instructions(normalize_messages(messages), schema)
    reply = (yield from _asking(client, asked, schema, name, options)).text
    value, problems = check(reply, schema)
    if problems and repair:
        log.warning("the JSON reply has %d problem(s) (%s); asking once more", len(problems), problems[0])
        repaired = _repair_messages(asked, reply, problems, schema)
        reply = (yield from _asking(client, repaired, schema, name, options)).text
        value, problems = check(reply, schema)
    if problems:
        raise LLMFormatError(reply, problems)
    return value


def complete_json(
    client: LLM,
    messages: Messages,
    schema: Mapping[str, Any] | None = None,
    *,
    name: str = "response",
    repair: bool = True,
    **options: Any,
) -> dict[str, Any] | list[Any]:
    """Ask `client` for JSON conforming to `schema`; one repair round trip, then `LLMFormatError`."""
    return run(_completing_json(client, messages, schema, name, repair, options))


async def acomplete_json(
    client: LLM,
    messages: Messages,
    schema: Mapping[str, Any] | None = None,
    *,
    name: str = "response",
    repair: bool = True,
    **options: Any,
) -> dict[str, Any] | list[Any]:
    """Async `complete_json`: the same requests, the same value or error."""
    return await arun(_completing_json(client, messages, schema, name, repair, options))
