"""The counting proxy: every benchmark request, whatever framework sends it, passes through here.

An OpenAI-compatible HTTP server on 127.0.0.1 that forwards each chat request to the upstream serving its
"model" field (the program model or the optimizer model), so every framework is measured the same way:

- counts requests, cache hits, failures and the server-reported tokens per (label, role). The label is the
  URL's first path segment (`url(label)` gives `http://127.0.0.1:PORT/<label>/v1`), so each system gets its
  own counters without any change to how it calls; the role is the route's (program or optimizer);
- records the temperature each client *sent* (None when it sent none: the server's default would apply)
  and then pins it to the route's value, so no framework runs hotter or colder than the others;
- answers repeated program requests at temperature 0 from a shared cache, keyed on the request that
  decides the reply (model, messages, max_tokens and any other field that shapes it), persisted as JSON
  lines: identical calls across systems and across a resumed run cost nothing, and are counted as hits.
  Two identical requests in flight at once make one upstream call (the second waits for the first).

`GET /v1/models` lists what the upstreams serve. A request for a model no route serves is refused (404)
and counted under the role "unrouted", so a misconfigured peer shows in the counts instead of vanishing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("backprose.bench")

ANY_MODEL = "*"  # a route for every model: plain counting, as for a single-endpoint comparison
UNROUTED = "unrouted"
# Request fields that do not change a temperature-0 reply (temperature itself is pinned), and defaults
# that some clients send and others leave out; neither takes part in the cache key.
_NOT_IN_KEY = {"temperature", "seed", "user", "stream_options"}
_DEFAULTS = {"n": 1, "stream": False, "logprobs": False, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0}


@dataclass(frozen=True)
class Route:
    """Requests for `model` go to `upstream` (an OpenAI-compatible base URL ending in /v1), counted under
    `role`, with their temperature pinned to `temperature` (None: sent as the client sent it) and their
    model renamed to `upstream_model` when the server knows it by another name."""

    model: str
    upstream: str
    role: str
    temperature: float | None = None
    upstream_model: str | None = None


@dataclass
class Counts:
    """What one (label, role) used: `calls` counts every request a client made, cache hits included."""

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    temperatures_sent: list[float | None] = field(default_factory=list)  # each distinct value, first seen first

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens": self.tokens}


def cache_key(body: dict[str, Any]) -> str:
    """The hash of what decides a temperature-0 reply: every field but the ignorable ones, with the
    messages reduced to role and text, so two clients asking the same thing the same way share a reply."""
    kept = {k: v for k, v in body.items() if k not in _NOT_IN_KEY and not (k in _DEFAULTS and v == _DEFAULTS[k])}
    if "max_completion_tokens" in kept:
        kept.setdefault("max_tokens", kept.pop("max_completion_tokens"))
    kept["messages"] = [_plain(m) for m in body.get("messages") or []]
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _plain(message: Any) -> Any:
    """A message whose content is only text parts, as {"role", "content": text}; others unchanged."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        content = "".join(str(p.get("text", "")) for p in content)
    rest = {k: v for k, v in message.items() if k not in ("role", "content") and v is not None}
    return {"role": message.get("role"), "content": content, **rest}


class ReplyCache:
    """Program replies by cache key, in memory and appended to a JSON-lines file as they arrive."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._replies: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._flights: dict[str, threading.Event] = {}
        if path is not None and path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self._replies[entry["key"]] = json.dumps(entry["reply"]).encode()
                except (ValueError, KeyError, TypeError):
                    log.warning("program cache %s: line %d is damaged (a kill mid-write?); it is skipped", path,
                                number)

    def __len__(self) -> int:
        with self._lock:
            return len(self._replies)

    def get_or_lead(self, key: str) -> tuple[bytes | None, bool]:
        """(reply, False) on a hit; (None, True) when this caller must fetch it and then call `done`.
        A caller that finds the same request in flight waits for it, then looks again."""
        while True:
            with self._lock:
                if key in self._replies:
                    return self._replies[key], False
                flight = self._flights.get(key)
                if flight is None:
                    self._flights[key] = threading.Event()
                    return None, True
            flight.wait()

    def done(self, key: str, reply: bytes | None) -> None:
        """Store `reply` (None: the fetch failed, nothing is stored) and release any waiters."""
        with self._lock:
            if reply is not None:
                self._replies[key] = reply
                if self.path is not None:
                    with self.path.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"key": key, "reply": json.loads(reply)}) + "\n")
            self._flights.pop(key).set()


class Proxy:
    """Start with `Proxy(routes, cache_path=...)`; point a client at `proxy.url(label)`; read `counts(label)`."""

    def __init__(self, routes: Sequence[Route], *, cache_path: str | Path | None = None, api_key: str = "local",
                 timeout: float = 1800.0) -> None:
        self.routes = {r.model: r for r in routes}
        self.api_key = api_key
        self.timeout = timeout
        self.cache = ReplyCache(Path(cache_path) if cache_path is not None else None)
        self._counts: dict[tuple[str, str], Counts] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                label, path = proxy._split(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not path.endswith("/chat/completions"):
                    status, payload, kind = proxy._forward(next(iter(proxy.routes.values())).upstream, path, body)
                else:
                    status, payload, kind = proxy._chat(label, body)
                self._reply(status, payload, kind)

            def do_GET(self) -> None:
                _, path = proxy._split(self.path)
                status, payload, kind = proxy._models() if path.rstrip("/") == "/models" else proxy._forward(
                    next(iter(proxy.routes.values())).upstream, path, None)
                self._reply(status, payload, kind)

            def _reply(self, status: int, payload: bytes, kind: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up; its call was counted
                    log.info("proxy: a client closed its connection before the reply was sent")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        threading.Thread(target=self.server.serve_forever, daemon=True, name="bench-proxy").start()
        self.base_url = self.url("")

    # --- addresses ------------------------------------------------------------------------------------
    def url(self, label: str) -> str:
        """The base URL that counts requests under `label` ("" counts them unlabelled)."""
        host, port = self.server.server_address[:2]
        prefix = "/" + urllib.parse.quote(label, safe="") if label else ""
        return f"http://{host}:{port}{prefix}/v1"

    @staticmethod
    def _split(raw: str) -> tuple[str, str]:
        """(label, path after /v1) of a request path such as /<label>/v1/chat/completions."""
        path = raw.split("?", 1)[0]
        head, sep, tail = path.partition("/v1/")
        if not sep:
            head, tail = (path[:-3], "") if path.endswith("/v1") else ("", path.lstrip("/"))
        return urllib.parse.unquote(head.strip("/")), "/" + tail

    # --- requests -------------------------------------------------------------------------------------
    def _chat(self, label: str, raw: bytes) -> tuple[int, bytes, str]:
        try:
            body = json.loads(raw or b"{}")
            model = body.get("model")
        except (ValueError, AttributeError):
            return self._error(400, f"the request body is not a JSON object: {raw[:80]!r}")
        route = self.routes.get(model) or self.routes.get(ANY_MODEL)
        if route is None:
            self._count(label, UNROUTED, sent=body.get("temperature"), error=True)
            log.warning("proxy: model %r (label %r) is served by no route; it was refused", model, label)
            served = ", ".join(f"{r.model} ({r.role})" for r in self.routes.values())
            return self._error(404, f"The model `{model}` does not exist here; this proxy serves {served}")
        sent = body.get("temperature")
        if route.temperature is not None:
            body["temperature"] = route.temperature
        cached = route.role == "program" and body.get("temperature") == 0 and not body.get("stream")
        key = cache_key(body) if cached else None
        if key is not None:
            hit, lead = self.cache.get_or_lead(key)
            if hit is not None:
                self._count(label, route.role, sent=sent, usage=_usage(hit), hit=True)
                return 200, hit, "application/json"
        stored: bytes | None = None
        try:
            upstream_body = {**body, "model": route.upstream_model} if route.upstream_model else body
            status, payload, kind = self._forward(route.upstream, "/chat/completions",
                                                  json.dumps(upstream_body).encode())
            usage = _usage(payload) if status == 200 else {}
            if status == 200 and _answered(payload):
                stored = payload
            self._count(label, route.role, sent=sent, usage=usage, error=status != 200)
            return status, payload, kind
        finally:
            if key is not None:
                self.cache.done(key, stored)

    def _forward(self, upstream: str, path: str, body: bytes | None) -> tuple[int, bytes, str]:
        req = urllib.request.Request(upstream.rstrip("/") + path, data=body, method="POST" if body is not None
                                     else "GET", headers={"Content-Type": "application/json",
                                                          "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Content-Type", "application/json")
        except (urllib.error.URLError, OSError) as err:
            log.warning("proxy: upstream %s failed: %s", upstream, err)
            return self._error(502, f"the upstream server {upstream} did not answer: {err}")

    def _models(self) -> tuple[int, bytes, str]:
        """Every upstream's model list, merged, each model under the name clients use for it (a single
        upstream's list is passed through unchanged when no route renames a model)."""
        upstreams = list(dict.fromkeys(r.upstream for r in self.routes.values()))
        renamed = {(r.upstream, r.upstream_model): r.model for r in self.routes.values() if r.upstream_model}
        if len(upstreams) == 1 and not renamed:
            return self._forward(upstreams[0], "/models", None)
        data: list[Any] = []
        for upstream in upstreams:
            status, payload, _ = self._forward(upstream, "/models", None)
            if status != 200:
                return status, payload, "application/json"
            for entry in json.loads(payload).get("data") or []:
                if isinstance(entry, dict):
                    entry = {**entry, "id": renamed.get((upstream, entry.get("id")), entry.get("id"))}
                data.append(entry)
        return 200, json.dumps({"object": "list", "data": data}).encode(), "application/json"

    @staticmethod
    def _error(status: int, message: str) -> tuple[int, bytes, str]:
        return status, json.dumps({"error": {"message": message, "type": "proxy", "code": status}}).encode(), \
            "application/json"

    # --- counting -------------------------------------------------------------------------------------
    def _count(self, label: str, role: str, *, sent: Any, usage: dict[str, Any] | None = None, hit: bool = False,
               error: bool = False) -> None:
        usage = usage or {}
        with self._lock:
            c = self._counts.setdefault((label, role), Counts())
            c.calls += 1
            c.cache_hits += hit
            c.errors += error
            c.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            c.completion_tokens += int(usage.get("completion_tokens") or 0)
            if sent not in c.temperatures_sent:
                c.temperatures_sent.append(sent)

    def counts(self, label: str) -> dict[str, Counts]:
        """A copy of `label`'s counts by role."""
        with self._lock:
            return {role: Counts(**{**asdict(c), "temperatures_sent": list(c.temperatures_sent)})
                    for (lab, role), c in self._counts.items() if lab == label}

    def snapshot(self) -> tuple[int, int]:
        """(requests, tokens) over every label and role so far."""
        with self._lock:
            return sum(c.calls for c in self._counts.values()), sum(c.tokens for c in self._counts.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _usage(payload: bytes) -> dict[str, Any]:
    try:
        return json.loads(payload).get("usage") or {}
    except (ValueError, AttributeError):
        return {}


def _answered(payload: bytes) -> bool:
    """A reply worth keeping: JSON with at least one choice (an error body is never cached)."""
    try:
        return bool(json.loads(payload).get("choices"))
    except (ValueError, AttributeError):
        return False
