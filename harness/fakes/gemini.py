"""Gemini (Developer API) on the wire: `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse`, `x-goog-api-key` (or `?key=`) auth, `data:` chunks ending at
EOF without a terminator, errors as `{"error": {"code", "message", "status", "details"}}`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from harness.fakes.core import Incoming
from harness.fakes.script import Finish, Ping, ProviderError, Raw, StreamEvent, Text, ToolCall
from harness.fakes.wire import SSE_COMMENT_PING, SSE_CONTENT_TYPE, Call, Content, ErrorAnswer, sse, word_count

PATH = re.compile(r"^/(?:v1beta|v1)/models/(?P<model>[^/:]+)"
                  r":(?P<method>generateContent|streamGenerateContent)$")
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}

ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    408: ("DEADLINE_EXCEEDED", "Request timed out."),
    409: ("ABORTED", "The operation was aborted."),
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", ("An internal error has occurred. Please retry or report in "
                       "https://developers.generativeai.google/guide/troubleshooting")),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
MISSING_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
               "Please use API Key or other form of API consumer identity to call this API.")


def error_object(status: int, message: str | None = None, retry_after: str | None = None) -> dict[str, Any]:
    code, default = ERRORS.get(status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION",
                                        f"HTTP {status}"))
    error: dict[str, Any] = {"code": status, "message": message or default, "status": code}
    if status == 429 and retry_after is not None:
        # Gemini carries the wait in the body (RetryInfo), which a client must read there.
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                             "retryDelay": f"{retry_after}s"}]
    return error


class GeminiWire:
    kind = "gemini"

    def call(self, request: Incoming) -> Call | None:
        match = PATH.match(request.path)
        if request.method != "POST" or match is None:
            return None
        body = request.json()
        return Call(match["model"], match["method"] == "streamGenerateContent",
                    body if isinstance(body, dict) else {}, request.query)

    def auth_error(self, request: Incoming, api_key: str) -> ErrorAnswer | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return ErrorAnswer(403, {"error": {"code": 403, "message": MISSING_KEY,
                                               "status": "PERMISSION_DENIED"}})
        if key != api_key:
            return ErrorAnswer(400, {"error": {
                "code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]}})
        return None

    def error_body(self, status: int, message: str | None, headers: Mapping[str, str]) -> Mapping[str, Any]:
        return {"error": error_object(status, message, headers.get("retry-after"))}

    def response_headers(self, status: int) -> Mapping[str, str]:
        return {"server": "scaffolding on HTTPServer2", "vary": "Origin"}

    def success_body(self, content: Content, call: Call) -> Mapping[str, Any]:
        parts: list[dict[str, Any]] = [{"text": content.text}] if content.text else []
        parts += [{"functionCall": {"name": t.name, "args": t.parsed_arguments()}}
                  for t in content.tool_calls]
        tokens = word_count(content.text) + len(content.tool_calls)
        return {"candidates": [{"content": {"parts": parts, "role": "model"},
                                "finishReason": FINISH.get(content.finish, content.finish), "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": tokens,
                                  "totalTokenCount": 5 + tokens},
                "modelVersion": call.model}

    def encoder(self, call: Call) -> GeminiEncoder:
        return GeminiEncoder(call.model, as_sse=call.query.get("alt") == "sse")


class GeminiEncoder:
    """SSE with `?alt=sse`; otherwise the REST default, one JSON array written element by element."""

    def __init__(self, model: str, as_sse: bool = True) -> None:
        self._model = model
        self._as_sse = as_sse
        self.content_type = SSE_CONTENT_TYPE if as_sse else "application/json; charset=UTF-8"
        self._elements = 0
        self._tokens = 0
        self._arguments: dict[int, str] = {}

    def _emit(self, payload: dict[str, Any], last: bool = False) -> bytes:
        if self._as_sse:
            return sse(payload)
        head = "[" if self._elements == 0 else "\n,\r\n"
        self._elements += 1
        return (head + json.dumps(payload) + ("]" if last else "")).encode()

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        usage = {"promptTokenCount": 5, "totalTokenCount": 5}
        if finish is not None:
            candidate["finishReason"] = finish
            usage = {"promptTokenCount": 5, "candidatesTokenCount": self._tokens,
                     "totalTokenCount": 5 + self._tokens}
        return self._emit({"candidates": [candidate], "usageMetadata": usage, "modelVersion": self._model},
                          last=finish is not None)

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, Text):
            self._tokens += 1
            return self._chunk([{"text": event.text}])
        if isinstance(event, ToolCall):
            # Gemini sends a function call whole: arguments are held until they parse.
            arguments = self._arguments.get(event.index, "") + event.arguments
            try:
                parsed = json.loads(arguments)
            except ValueError:
                self._arguments[event.index] = arguments
                return b""
            self._arguments.pop(event.index, None)
            self._tokens += 1
            return self._chunk([{"functionCall": {"name": event.name, "args": parsed}}])
        if isinstance(event, Finish):
            return self._chunk([{"text": ""}], FINISH.get(event.reason, event.reason))
        if isinstance(event, ProviderError):
            return self._emit({"error": error_object(event.status, event.message)}, last=True)
        if isinstance(event, Ping):
            return SSE_COMMENT_PING if self._as_sse else b""
        assert isinstance(event, Raw)
        return event.data

    def malformed(self) -> bytes:
        broken = b'{"candidates":[{"content":{"parts":[{"text":'
        if self._as_sse:
            return b"data: " + broken + b"\n\n"
        self._elements += 1
        return (b"[" if self._elements == 1 else b"\n,\r\n") + broken
