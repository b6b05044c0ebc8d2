"""Turn the body of an HTTP 200 from a chat server into a `Completion`, or into an error that says what
was wrong with it.

Servers and proxies answer 200 with surprising bodies: an `{"error": ...}` object, no `choices`, a choice
without a message, `content: null` (a refusal, tool calls, or nothing at all). None of these may become an
empty answer, because an answer is cached and a cached empty answer would be replayed forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backprose.errors import LLMBadReply, LLMNoContent
from backprose.llm.base import Completion, Request, messages_tokens

RETRY_CODES = {"408", "429", "rate_limit_exceeded", "server_error", "overloaded", "timeout"}


def _shown(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _error_reply(base_url: str, error: Any) -> LLMBadReply:
    """The server's own words, and whether its code says another attempt may work (429, 5xx, overloaded)."""
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("detail") or json.dumps(error, default=str)
        code = error.get("code") if error.get("code") is not None else error.get("status")
        kind = error.get("type")
    else:
        message, code, kind = str(error), None, None
    code_text = str(code) if code is not None else ""
    transient = (code_text.isdigit() and int(code_text) >= 500) or code_text in RETRY_CODES or kind in RETRY_CODES
    labels = ", ".join(f"{k} {v}" for k, v in (("code", code), ("type", kind)) if v is not None)
    return LLMBadReply(base_url, f"the server sent an error: {_shown(message, 500)}"
                       + (f" ({labels})" if labels else ""), transient=transient)


def _text(content: Any) -> str | None:
    """Plain text from `content`: a string, or a list of parts whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, Mapping)]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return None


def _tool_names(message: Mapping[str, Any]) -> list[str] | None:
    calls = message.get("tool_calls")
    if isinstance(message.get("function_call"), Mapping):
        calls = [{"function": message["function_call"]}]
    if not calls or not isinstance(calls, list):
        return None
    return [str((c.get("function") or {}).get("name", "?")) if isinstance(c, Mapping) else "?" for c in calls]


def parse_completion(raw: bytes, base_url: str, model: str, request: Request) -> Completion:
    """The completion in `raw`, or `LLMBadReply` (transient unless the server's error says otherwise) or
    `LLMNoContent` (a refusal or tool calls: never retried)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return_text = raw[:200].decode("utf-8", "replace")
        raise LLMBadReply(base_url, f"the body is not JSON ({exc}): {return_text!r}", transient=True) from exc
    if not isinstance(body, Mapping):
        raise LLMBadReply(base_url, f"the body is not a JSON object: {_shown(body)}", transient=True)
    if body.get("error") and not body.get("choices"):
        raise _error_reply(base_url, body["error"])
    choices = body.get("choices")
    if "choices" not in body:
        raise LLMBadReply(base_url, f"the reply has no `choices`: {_shown(body)}", transient=True)
    if not isinstance(choices, list):
        raise LLMBadReply(base_url, f"`choices` is not a list: {_shown(choices)}", transient=True)
    if not choices:
        raise LLMBadReply(base_url, "`choices` is empty", transient=True)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        raise LLMBadReply(base_url, f"choice 0 has no message: {_shown(choice)}", transient=True)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not message.get("content"):
        raise LLMNoContent(base_url, refusal=refusal)
    tools = _tool_names(message)
    if tools and not message.get("content"):
        raise LLMNoContent(base_url, tool_calls=tools)
    if "content" not in message:
        raise LLMBadReply(base_url, f"the message has no `content`: {_shown(message)}", transient=True)
    text = _text(message["content"])
    if text is None:
        finish = choice.get("finish_reason")
        what = "null" if message["content"] is None else f"not text ({_shown(message['content'])})"
        raise LLMBadReply(base_url, f"the message content is {what} (finish_reason {finish!r})", transient=True)
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Completion(
        text=text,
        model=str(body.get("model") or model),
        prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else messages_tokens(request.messages),
        completion_tokens=completion_tokens if isinstance(completion_tokens, int) else len(text) // 4,
        finish_reason=choice.get("finish_reason"),
        raw=dict(body),
    )
