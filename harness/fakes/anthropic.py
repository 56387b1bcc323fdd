"""Anthropic Messages on the wire: `POST /v1/messages`, `x-api-key` auth, named SSE events
(message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error), and
errors as `{"type": "error", "error": {"type", "message"}, "request_id"}`, 529 for overload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.fakes.core import Incoming
from harness.fakes.script import Finish, Ping, ProviderError, Raw, StreamEvent, Text, ToolCall
from harness.fakes.wire import SSE_CONTENT_TYPE, Call, Content, ErrorAnswer, request_id, sse, word_count

PATHS = ("/v1/messages", "/messages")
FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def error_object(status: int, message: str | None = None) -> dict[str, str]:
    kind, default = ERRORS.get(status, ("api_error" if status >= 500 else "invalid_request_error",
                                        f"HTTP {status}"))
    return {"type": kind, "message": message or default}


class AnthropicWire:
    kind = "anthropic"

    def call(self, request: Incoming) -> Call | None:
        if request.method != "POST" or request.path not in PATHS:
            return None
        body = request.json()
        body = body if isinstance(body, dict) else {}
        return Call(str(body.get("model", "claude-sonnet-4-5")), bool(body.get("stream")), body)

    def auth_error(self, request: Incoming, api_key: str) -> ErrorAnswer | None:
        key = request.headers.get("x-api-key")
        bearer = request.headers.get("authorization", "")
        if key is None and bearer.startswith("Bearer "):
            key = bearer[7:].strip()
        if not key:
            return ErrorAnswer(401, self.error_body(401, "x-api-key header is required", {}))
        if key != api_key:
            return ErrorAnswer(401, self.error_body(401, None, {}))
        return None

    def error_body(self, status: int, message: str | None, headers: Mapping[str, str]) -> Mapping[str, Any]:
        return {"type": "error", "error": error_object(status, message), "request_id": request_id("req_")}

    def response_headers(self, status: int) -> Mapping[str, str]:
        return {"request-id": request_id("req_"), "anthropic-organization-id": "fake-org"}

    def success_body(self, content: Content, call: Call) -> Mapping[str, Any]:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content.text}] if content.text else []
        blocks += [{"type": "tool_use", "id": t.id, "name": t.name, "input": t.parsed_arguments()}
                   for t in content.tool_calls]
        return {"id": request_id("msg_"), "type": "message", "role": "assistant", "model": call.model,
                "content": blocks, "stop_reason": FINISH.get(content.finish, content.finish),
                "stop_sequence": None,
                "usage": {"input_tokens": 9,
                          "output_tokens": word_count(content.text) + len(content.tool_calls)}}

    def encoder(self, call: Call) -> AnthropicEncoder:
        return AnthropicEncoder(call.model)


class AnthropicEncoder:
    content_type = SSE_CONTENT_TYPE

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._index = -1
        self._open: tuple[str, int] | None = None   # ("text", 0) or ("tool", tool index)
        self._tokens = 1

    def _preamble(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {"id": request_id("msg_"), "type": "message", "role": "assistant",
                                   "content": [], "model": self._model, "stop_reason": None,
                                   "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1}}
        return sse({"type": "message_start", "message": message}, "message_start")

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return sse({"type": "content_block_stop", "index": self._index}, "content_block_stop")

    def _open_block(self, key: tuple[str, int], block: dict[str, Any]) -> bytes:
        if self._open == key:
            return b""
        out = self._close_block()
        self._index += 1
        self._open = key
        return out + sse({"type": "content_block_start", "index": self._index, "content_block": block},
                         "content_block_start")

    def _delta(self, delta: dict[str, Any]) -> bytes:
        self._tokens += 1
        return sse({"type": "content_block_delta", "index": self._index, "delta": delta},
                   "content_block_delta")

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, Text):
            return (self._preamble() + self._open_block(("text", 0), {"type": "text", "text": ""})
                    + self._delta({"type": "text_delta", "text": event.text}))
        if isinstance(event, ToolCall):
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            return (self._preamble() + self._open_block(("tool", event.index), block)
                    + self._delta({"type": "input_json_delta", "partial_json": event.arguments}))
        if isinstance(event, Finish):
            reason = FINISH.get(event.reason, event.reason)
            return (self._preamble() + self._close_block()
                    + sse({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                           "usage": {"output_tokens": self._tokens}}, "message_delta")
                    + sse({"type": "message_stop"}, "message_stop"))
        if isinstance(event, ProviderError):
            return sse({"type": "error", "error": error_object(event.status, event.message)}, "error")
        if isinstance(event, Ping):
            return sse({"type": "ping"}, "ping")
        assert isinstance(event, Raw)
        return event.data

    def malformed(self) -> bytes:
        return (self._preamble() + b"event: content_block_delta\n"
                + b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n')
