"""A fake OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks that need a real socket.

It answers `POST /v1/chat/completions` and `GET /v1/models` after a fixed latency, counts requests and the
highest number in flight at once, and can play a scripted list of faults first (429 with Retry-After,
5xx, 401, 404, a hang past the client's timeout, a reply dripped a byte at a time, truncated JSON, a
garbage body, any JSON body with status 200, a dropped connection).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]
Fault = str | dict[str, Any]

_FAULT_STATUS = {"429": 429, "500": 500, "502": 502, "503": 503, "401": 401, "403": 403, "404": 404,
                 "400": 400, "422": 422}


def echo_reply(body: dict[str, Any]) -> str:
    """Default reply: 'echo: ' and the last message's content."""
    return "echo: " + str(body["messages"][-1]["content"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once in benchmarks
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would add ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/").endswith("/_stats"):
            self._json(200, fake.stats())
        elif self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/").endswith("/_stats/reset"):
            fake.reset_stats()
            self._json(200, fake.stats())
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        fault = fake._enter(body, self.headers.get("Authorization", ""))
        try:
            if fake.latency:
                time.sleep(fake.latency)
            if fault is not None and self._play(fault, body):
                return
            if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._json(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
                return
            if body.get("model") not in fake.models:
                self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist",
                                           "code": "model_not_found"}})
                return
            text = fake._reply(body)
            fake._responded(body)
            self._json(200, completion_payload(body, text))
        finally:
            fake._leave()

    def _play(self, fault: dict[str, Any], body: dict[str, Any]) -> bool:
        """Play one fault; True when it replaced the normal answer."""
        kind = fault["kind"]
        if kind == "hang":
            time.sleep(fault.get("seconds", 5.0))
            self.close_connection = True
            return True
        if kind == "drip":
            self._drip(fault, body)
            return True
        if kind == "truncated":
            payload = json.dumps(completion_payload({"model": "x", "messages": []}, "cut"))
            self._send(200, payload[: len(payload) // 2].encode())
            return True
        if kind == "garbage":
            self._send(200, b"<html>proxy error: upstream sent nonsense</html>")
            return True
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if kind == "status":
            headers = {}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            status = fault["status"]
            self._json(status, {"error": {"message": fault.get("message", f"fake fault {status}"),
                                          "type": "fake", "code": str(status)}}, headers)
            return True
        if kind == "reply":  # a scripted content, e.g. malformed JSON for repair tests
            self._json(200, completion_payload(body, fault["text"]))
            return True
        if kind == "body":  # any JSON with status 200: no choices, content null, an error object, ...
            self._json(200, fault["body"])
            return True
        raise ValueError(f"unknown fault {fault!r}")

    def _drip(self, fault: dict[str, Any], body: dict[str, Any]) -> None:
        """Send a valid answer one byte every `interval` seconds for `seconds` in all, in the headers
        (`where="headers"`) or in the body: each read succeeds, so only a deadline on the whole call ends it."""
        interval = float(fault.get("interval", 0.5))
        count = max(1, int(float(fault.get("seconds", 20.0)) / interval))
        payload = json.dumps(completion_payload(body, fault.get("text", "dripped"))).encode()
        in_headers = fault.get("where", "body") == "headers"
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n" % (count * (not in_headers) + len(payload)))
        self.close_connection = True
        try:
            self.wfile.write(head + (b"X-Drip: " if in_headers else b"\r\n"))
            for _ in range(count):
                time.sleep(interval)
                self.wfile.write(b"." if in_headers else b" ")  # JSON allows leading whitespace
                self.wfile.flush()
            self.wfile.write((b"\r\n\r\n" if in_headers else b"") + payload)
        except OSError:  # the client gave up and closed the connection
            pass


def completion_payload(body: dict[str, Any], text: str) -> dict[str, Any]:
    """The JSON an OpenAI-compatible server returns for one chat completion."""
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": len(text) // 4 + 1,
                  "total_tokens": prompt + len(text) // 4 + 1},
    }


def _parse_fault(fault: Fault) -> dict[str, Any]:
    if isinstance(fault, dict):
        return dict(fault)
    if fault in _FAULT_STATUS:
        out: dict[str, Any] = {"kind": "status", "status": _FAULT_STATUS[fault]}
        if fault == "429":
            out["retry_after"] = 0
        return out
    return {"kind": fault}


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(...) as server:`; point a client at `server.base_url`.

    `reply` is a fixed string, a list of strings played in order (then the last one repeats), or a
    function of the request body. `faults` are consumed one per chat request, before normal answers.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: Iterable[Fault] = (),
        reply: Reply | list[str] = echo_reply,
        models: Iterable[str] = ("fake-model",),
        api_key: str | None = None,
    ) -> None:
        self.latency = latency
        self.models = list(models)
        self.api_key = api_key
        self._faults = [_parse_fault(f) for f in faults]
        self._replies = list(reply) if isinstance(reply, list) else None
        self._reply_fn = reply if not isinstance(reply, list) else None
        self._cond = threading.Condition()
        self.requests: list[dict[str, Any]] = []
        self.responded: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- bookkeeping (called from handler threads) ---------------------------------------------------

    def _enter(self, body: dict[str, Any], auth: str) -> dict[str, Any] | None:
        with self._cond:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            return self._faults.pop(0) if self._faults else None

    def _leave(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def _responded(self, body: dict[str, Any]) -> None:
        with self._cond:
            self.responded.append(body)

    def _reply(self, body: dict[str, Any]) -> str:
        with self._cond:
            if self._replies is not None:
                return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        if isinstance(self._reply_fn, str):
            return self._reply_fn
        assert self._reply_fn is not None
        return self._reply_fn(body)

    # -- public --------------------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Chat requests received so far (faulted ones included)."""
        with self._cond:
            return len(self.requests)

    def stats(self) -> dict[str, int]:
        """Counters, also served at GET /v1/_stats for a server running in another process."""
        with self._cond:
            return {"calls": len(self.requests), "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}

    def reset_stats(self) -> None:
        """Forget recorded requests and the in-flight peak (also POST /v1/_stats/reset)."""
        with self._cond:
            self.requests.clear()
            self.responded.clear()
            self.max_in_flight = self.in_flight

    def add_faults(self, *faults: Fault) -> None:
        with self._cond:
            self._faults.extend(_parse_fault(f) for f in faults)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until `count` chat requests have arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self, port: int = 0) -> FakeOpenAIServer:
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="fake-openai")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake server in its own process: prints its base URL on the first line, then serves."""
    import argparse

    parser = argparse.ArgumentParser(description="fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--model", action="append", default=None)
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(latency=args.latency, models=args.model or ["fake-model"]).start(args.port)
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
