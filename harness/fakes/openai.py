"""OpenAI Chat Completions on the wire: `POST /v1/chat/completions`, Bearer auth, `data:`-only SSE
ending in `data: [DONE]`, errors as `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.fakes.core import Incoming
from harness.fakes.script import Finish, Ping, ProviderError, Raw, StreamEvent, Text, ToolCall
from harness.fakes.wire import (SSE_COMMENT_PING, SSE_CONTENT_TYPE, Call, Content, ErrorAnswer, request_id,
                                sse, word_count)

PATHS = ("/v1/chat/completions", "/chat/completions")
FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

# status -> (type, code, message)
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key",
          "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", "model_not_found",
          "The model does not exist or you do not have access to it."),
    408: ("invalid_request_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}
MISSING_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
               "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


def error_object(status: int, message: str | None = None) -> dict[str, Any]:
    kind, code, default = ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                              None, f"HTTP {status}"))
    return {"message": message or default, "type": kind, "param": None, "code": code}


class OpenAIWire:
    kind = "openai"

    def call(self, request: Incoming) -> Call | None:
        if request.method != "POST" or request.path not in PATHS:
            return None
        body = request.json()
        body = body if isinstance(body, dict) else {}
        return Call(str(body.get("model", "gpt-4o")), bool(body.get("stream")), body)

    def auth_error(self, request: Incoming, api_key: str) -> ErrorAnswer | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return ErrorAnswer(401, {"error": {"message": MISSING_KEY, "type": "invalid_request_error",
                                               "param": None, "code": None}})
        if header[7:].strip() != api_key:
            return ErrorAnswer(401, {"error": error_object(401)})
        return None

    def error_body(self, status: int, message: str | None, headers: Mapping[str, str]) -> Mapping[str, Any]:
        return {"error": error_object(status, message)}

    def response_headers(self, status: int) -> Mapping[str, str]:
        return {"x-request-id": request_id("req_"), "openai-version": "2020-10-01"}

    def success_body(self, content: Content, call: Call) -> Mapping[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content.text or None, "refusal": None}
        if content.tool_calls:
            message["tool_calls"] = [{"id": t.id, "type": "function",
                                      "function": {"name": t.name, "arguments": t.arguments}}
                                     for t in content.tool_calls]
        completion = word_count(content.text) + len(content.tool_calls)
        return {"id": request_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                "model": call.model, "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": FINISH.get(content.finish, content.finish)}],
                "usage": {"prompt_tokens": 9, "completion_tokens": completion,
                          "total_tokens": 9 + completion}}

    def encoder(self, call: Call) -> OpenAIEncoder:
        options = call.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return OpenAIEncoder(call.model, include_usage)


class OpenAIEncoder:
    content_type = SSE_CONTENT_TYPE

    def __init__(self, model: str, include_usage: bool) -> None:
        self._id = request_id("chatcmpl-")
        self._created = int(time.time())
        self._model = model
        self._include_usage = include_usage
        self._started = False
        self._open_tools: set[int] = set()
        self._tokens = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                    "model": self._model, "system_fingerprint": "fp_fake",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    def _preamble(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, Text):
            self._tokens += 1
            return self._preamble() + self._chunk({"content": event.text})
        if isinstance(event, ToolCall):
            call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
            if event.index not in self._open_tools:
                self._open_tools.add(event.index)
                call = {"index": event.index, "id": event.id, "type": "function",
                        "function": {"name": event.name, "arguments": event.arguments}}
            self._tokens += 1
            return self._preamble() + self._chunk({"tool_calls": [call]})
        if isinstance(event, Finish):
            out = self._preamble() + self._chunk({}, FINISH.get(event.reason, event.reason))
            if self._include_usage:
                out += sse({"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                            "model": self._model, "choices": [],
                            "usage": {"prompt_tokens": 9, "completion_tokens": self._tokens,
                                      "total_tokens": 9 + self._tokens}})
            return out + b"data: [DONE]\n\n"
        if isinstance(event, ProviderError):
            return sse({"error": error_object(event.status, event.message or (
                "The server had an error while processing your request." if event.status >= 500 else None))})
        if isinstance(event, Ping):
            return SSE_COMMENT_PING
        assert isinstance(event, Raw)
        return event.data

    def malformed(self) -> bytes:
        head = b'data: {"id":"' + self._id.encode()
        return self._preamble() + head + b'","choices":[{"delta":{"content":\n\n'
