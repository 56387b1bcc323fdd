"""A fake LLM provider: one wire format, one API key, one script of replies.

Requests to the completion endpoint are checked for the provider's auth header first (a wrong
key gets the provider's real auth error and does not consume the script); each other request
takes the script's next reply, rendered in the mode the client asked for (stream or not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from harness.fakes.anthropic import AnthropicWire
from harness.fakes.core import Chunk, FakeServer, Incoming, Plan, Routed, json_plan
from harness.fakes.gemini import GeminiWire
from harness.fakes.openai import OpenAIWire
from harness.fakes.script import (
    Disconnect,
    ProviderError,
    Reply,
    Script,
    ScriptReply,
    Stream,
    StreamEvent,
    Text,
    ToolCall,
    Transfer,
    text_stream,
)
from harness.fakes.wire import Call, Content, WireFormat, aggregate
from harness.history import Recorder

ProviderKind = Literal["openai", "anthropic", "gemini"]
BROKEN_JSON = b'{"id": "broken", "choices": [{"message": {"content": "Hel'   # cut off mid-value
WIRES: dict[str, type[OpenAIWire | AnthropicWire | GeminiWire]] = {
    "openai": OpenAIWire, "anthropic": AnthropicWire, "gemini": GeminiWire}


class FakeProvider(FakeServer):
    def __init__(self, kind: ProviderKind, name: str, recorder: Recorder, api_key: str) -> None:
        if kind not in WIRES:
            raise ValueError(f"unknown provider kind {kind!r}; expected one of {sorted(WIRES)}")
        super().__init__(f"provider:{name}", recorder)
        self.kind = kind
        self.name = name
        self.api_key = api_key
        self.wire: WireFormat = WIRES[kind]()

    def set_script(self, script: Script, channel: str = "default") -> None:
        if any(isinstance(r, Transfer) for r in (*script.replies, script.then)):
            raise ValueError("a provider script cannot contain a hub Transfer")
        super().set_script(script, channel)

    def route(self, request: Incoming) -> Routed:
        call = self.wire.call(request)
        if call is None:
            body = self.wire.error_body(404, f"Unknown path {request.method} {request.path}", {})
            return Routed(json_plan(404, body, self.wire.response_headers(404)), "unknown path", counted=False)
        denied = self.wire.auth_error(request, self.api_key)
        if denied is not None:
            headers = self.wire.response_headers(denied.status)
            return Routed(json_plan(denied.status, denied.body, headers), "auth failed", None, call.stream)
        attempt, reply = self.next_reply()
        plan = render(self.wire, reply, call)
        return Routed(plan, reply.describe(), attempt, call.stream, content_sent(reply, call, plan))


def render(wire: WireFormat, reply: ScriptReply, call: Call) -> Plan:
    """The bytes and faults that answer `call` with `reply` in `wire`'s format."""
    if isinstance(reply, Disconnect):
        return Plan(disconnect=True, reset=reply.reset, delay_before_headers=reply.delay)
    if isinstance(reply, Reply):
        return _render_reply(wire, reply, call)
    if isinstance(reply, Stream):
        return _render_stream(wire, reply, call) if call.stream else _render_buffered(wire, reply, call)
    raise TypeError(f"a provider cannot answer with {reply!r}")


def content_sent(reply: ScriptReply, call: Call, plan: Plan) -> Callable[[int], Mapping[str, Any]] | None:
    """The text and tool calls the first n chunks of `plan` carried: for a stream, the content
    events written whole (a malformed one carries nothing); for one JSON answer, all of it once
    its one chunk was written."""
    if isinstance(reply, Stream) and call.stream:
        events = [None if index == reply.malformed_at else event for index, event in enumerate(reply.events)]
        return lambda n: _content(events[:n])
    if isinstance(reply, Stream) and plan.chunks and plan.status < 400 and reply.malformed_at is None:
        return lambda n: _content(list(reply.events) if n else [])
    if isinstance(reply, Reply) and reply.status < 400 and reply.body is None:
        return lambda n: _content([Text(reply.text)] if n else [])
    return None


def _content(events: list[StreamEvent | None]) -> Mapping[str, Any]:
    text = "".join(e.text for e in events if isinstance(e, Text))
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        if isinstance(event, ToolCall):
            call = calls.setdefault(event.index, {"name": event.name, "arguments": ""})
            call["arguments"] += event.arguments
    return {"text": text, "tool_calls": [calls[i] for i in sorted(calls)]}


def _render_reply(wire: WireFormat, reply: Reply, call: Call) -> Plan:
    headers = {**wire.response_headers(reply.status), **reply.headers}
    if reply.body is not None:
        return json_plan(reply.status, reply.body, headers, reply.delay_before_headers)
    if reply.status >= 400:
        body = wire.error_body(reply.status, reply.message, reply.headers)
        return json_plan(reply.status, body, headers, reply.delay_before_headers)
    if call.stream:
        stream = text_stream(reply.text, status=reply.status, headers=reply.headers,
                             delay_before_headers=reply.delay_before_headers)
        return _render_stream(wire, stream, call)
    body = wire.success_body(Content(reply.text), call)
    return json_plan(reply.status, body, headers, reply.delay_before_headers)


def _render_stream(wire: WireFormat, stream: Stream, call: Call) -> Plan:
    encoder = wire.encoder(call)
    chunks = tuple(Chunk(encoder.malformed() if index == stream.malformed_at else encoder.encode(event),
                         event.delay)
                   for index, event in enumerate(stream.events))
    headers = {"content-type": encoder.content_type, "cache-control": "no-cache",
               **wire.response_headers(stream.status), **stream.headers}
    return Plan(stream.status, headers, chunks, stream.delay_before_headers, stream.cut_after,
                stream.stall_after, stream.reset)


def _render_buffered(wire: WireFormat, stream: Stream, call: Call) -> Plan:
    """A stream asked for without `stream: true`: one JSON answer, or the fault that would have
    struck before the stream's end."""
    length = len(stream.events)
    if stream.malformed_at is not None and stream.malformed_at < length:
        # A broken answer, framed whole: the connection stays usable, the JSON is not.
        return Plan(stream.status, {**wire.response_headers(stream.status), "content-type": "application/json",
                                    "content-length": str(len(BROKEN_JSON))},
                    (Chunk(BROKEN_JSON),), stream.delay_before_headers)
    if stream.cut_after is not None and stream.cut_after < length:
        return Plan(disconnect=True, reset=stream.reset, delay_before_headers=stream.delay_before_headers)
    if stream.stall_after is not None and stream.stall_after <= length:
        return Plan(hang=True, delay_before_headers=stream.delay_before_headers)
    headers = {**wire.response_headers(stream.status), **stream.headers}
    outcome = aggregate(stream.events)
    delay = stream.delay_before_headers + sum(event.delay for event in stream.events)
    if isinstance(outcome, ProviderError):
        body = wire.error_body(outcome.status, outcome.message, stream.headers)
        return json_plan(outcome.status, body, headers, delay)
    return json_plan(stream.status, wire.success_body(outcome, call), headers, delay)
