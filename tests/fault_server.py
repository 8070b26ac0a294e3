"""A small OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose.

It speaks just enough of the protocol (`GET /v1/models`, `POST /v1/chat/completions`) for the
openai client, and a `fault(n, body)` callback decides what the n-th chat request gets: a normal
answer (None) or one of the faults below. Real sockets, real HTTP, the real `openai` client on the
other side: only the server is ours.

Faults: "429" (with `retry-after-ms`), "429s" (with `Retry-After: 1`, seconds), "500", "stall"
(answers after `stall_s`, beyond the client's per-attempt timeout), "drop" (closes the connection
without a response), "malformed" (200 with a body that is not JSON), "401", "404",
"quota" (429 insufficient_quota), "no_json_mode" (400 about response_format).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Fault = Callable[[int, dict[str, Any]], str | None]


def first_label(body: dict[str, Any]) -> str:
    """A deterministic answer: the first category listed in the system message, else 'ok'."""
    for message in body.get("messages", []):
        if message["role"] == "system" and "Categories:" in message["content"]:
            line = message["content"].split("Categories:\n", 1)[1].splitlines()[0]
            return line.lstrip("- ").split(":")[0]
    return "ok"


class FaultServer:
    """Start with `with FaultServer(fault=...) as server:`; `server.url` is the base URL."""

    def __init__(self, fault: Fault | None = None, stall_s: float = 10.0,
                 require_key: str | None = None, models: tuple[str, ...] | None = None,
                 port: int = 0) -> None:
        self.fault = fault or (lambda n, body: None)
        self.stall_s = stall_s
        self.require_key = require_key
        self.models = models
        self.chat_requests = 0
        self.faults: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a stalled answer: that is the point of a stall

            def _error(self, status: int, message: str, code: str | None = None,
                       headers: dict[str, str] | None = None) -> None:
                self._send(status, {"error": {"message": message, "type": "test", "code": code}},
                           headers)

            def _authorized(self) -> bool:
                auth = self.headers.get("Authorization", "")
                with server._lock:
                    server.auth_headers.append(auth)
                if server.require_key and auth != f"Bearer {server.require_key}":
                    self._error(401, "Incorrect API key provided.", "invalid_api_key")
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    names = server.models or ("test-model",)
                    self._send(200, {"object": "list", "data": [
                        {"id": n, "object": "model", "created": 0, "owned_by": "test"}
                        for n in names]})
                else:
                    self._error(404, "not found")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorized():
                    return
                with server._lock:
                    server.chat_requests += 1
                    n = server.chat_requests
                    server.bodies.append(body)
                if server.models is not None and body.get("model") not in server.models:
                    self._error(404, f"The model `{body.get('model')}` does not exist.",
                                "model_not_found")
                    return
                fault = server.fault(n, body)
                if fault:
                    with server._lock:
                        server.faults[fault] += 1
                if fault == "429":
                    self._error(429, "Rate limit reached.", "rate_limit_exceeded",
                                {"retry-after-ms": "100"})
                elif fault == "429s":
                    self._error(429, "Rate limit reached.", "rate_limit_exceeded",
                                {"Retry-After": "1"})
                elif fault == "quota":
                    self._error(429, "You exceeded your current quota.", "insufficient_quota")
                elif fault == "500":
                    self._error(500, "The server had an error.")
                elif fault == "401":
                    self._error(401, "Incorrect API key provided.", "invalid_api_key")
                elif fault == "404":
                    self._error(404, "The model does not exist.", "model_not_found")
                elif fault == "no_json_mode" and "response_format" in body:
                    self._error(400, "Unrecognized request argument supplied: response_format")
                elif fault == "no_json_schema" and body.get("response_format", {}).get(
                        "type") == "json_schema":
                    self._error(400, "response_format json_schema is not supported")
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                elif fault == "malformed":
                    self._send(200, b'{"id": "x", "choices": [')
                else:
                    if fault == "stall":
                        time.sleep(server.stall_s)
                    self._send(200, completion(body))

        return Handler


SCHEMA_MARK = "as specified in JSON Schema:\n"


def schema_instance(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest instance of a JSON schema: one item per array, "x" per string, 1 per int."""
    if "$ref" in schema:
        return schema_instance(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: schema_instance(v, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), defs)]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind, "x")


def judge_reply(body: dict[str, Any]) -> str | None:
    """ragas' judge prompts embed their output schema: answer with its smallest instance.

    Deterministic on purpose: every NLI verdict is 1 (faithfulness 1.0) and the correctness
    classification has one true positive, one false positive and one false negative (F1 0.5).
    """
    for message in body.get("messages", []):
        content = message.get("content") or ""
        if SCHEMA_MARK in content:
            raw = content.split(SCHEMA_MARK, 1)[1].split("Do not use single quotes", 1)[0]
            schema = json.loads(raw)
            return json.dumps(schema_instance(schema, schema.get("$defs", {})))
    return None


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion answering with the first listed category (as JSON when asked to)."""
    label = first_label(body)
    text = judge_reply(body) or (json.dumps({"answer": label}) if "response_format" in body
                                 else label)
    prompt_tokens = sum(len(m["content"].split()) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model"), "system_fingerprint": "fp_fault_server",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5,
                  "total_tokens": prompt_tokens + 5,
                  "prompt_tokens_details": {"cached_tokens": prompt_tokens // 2}},
    }
