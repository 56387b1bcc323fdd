"""What a provider's wire format must supply, and the pieces all three formats share."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.fakes.core import Incoming
from harness.fakes.script import Finish, ProviderError, StreamEvent, Text, ToolCall


@dataclass(frozen=True)
class Call:
    """A request to a completion endpoint."""
    model: str
    stream: bool
    body: Mapping[str, Any]
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallContent:
    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        try:
            return json.loads(self.arguments) if self.arguments else {}
        except ValueError:
            return {}


@dataclass(frozen=True)
class Content:
    """A whole completion, for non-streamed answers."""
    text: str
    tool_calls: tuple[ToolCallContent, ...] = ()
    finish: str = "stop"


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    body: Mapping[str, Any]


class Encoder(Protocol):
    content_type: str

    def encode(self, event: StreamEvent) -> bytes: ...

    def malformed(self) -> bytes: ...


class WireFormat(Protocol):
    kind: str

    def call(self, request: Incoming) -> Call | None:
        """The completion call `request` makes, or None when it is not a completion endpoint."""

    def auth_error(self, request: Incoming, api_key: str) -> ErrorAnswer | None: ...

    def error_body(self, status: int, message: str | None,
                   headers: Mapping[str, str]) -> Mapping[str, Any]: ...

    def response_headers(self, status: int) -> Mapping[str, str]: ...

    def success_body(self, content: Content, call: Call) -> Mapping[str, Any]: ...

    def encoder(self, call: Call) -> Encoder: ...


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


SSE_COMMENT_PING = b": ping\n\n"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


def aggregate(events: Sequence[StreamEvent]) -> Content | ProviderError:
    """What a stream amounts to when the client asked for one JSON answer."""
    text: list[str] = []
    calls: dict[int, list[str]] = {}
    heads: dict[int, ToolCall] = {}
    finish = "stop"
    for event in events:
        if isinstance(event, ProviderError):
            return event
        if isinstance(event, Text):
            text.append(event.text)
        elif isinstance(event, ToolCall):
            heads.setdefault(event.index, event)
            calls.setdefault(event.index, []).append(event.arguments)
        elif isinstance(event, Finish):
            finish = event.reason
    tools = tuple(ToolCallContent(heads[i].id, heads[i].name, "".join(calls[i])) for i in sorted(calls))
    return Content("".join(text), tools, finish)


_ids = itertools.count(1)


def request_id(prefix: str) -> str:
    """Unique per process, so ids in a history never collide across fakes."""
    return f"{prefix}{next(_ids):012d}"


def word_count(text: str) -> int:
    return max(1, len(text.split()))
