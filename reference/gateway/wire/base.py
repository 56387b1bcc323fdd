"""The adapter contract, and a server-sent-events reader shared by all providers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reference.gateway.config import ProviderConfig
from reference.gateway.wire.events import ChatRequest, Event


@dataclass(frozen=True)
class UpstreamRequest:
    url: str
    headers: Mapping[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str


class MalformedStream(Exception):
    """The provider sent something that is not its stream format."""


class Wire(Protocol):
    def request(self, provider: ProviderConfig, chat: ChatRequest, stream: bool) -> UpstreamRequest: ...

    def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]: ...

    def body_events(self, body: Any) -> list[Event]: ...


async def read_sse(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    event, data = "", list[str]()
    async for line in lines:
        if line == "":
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", list[str]()
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield SseEvent(event or "message", "\n".join(data))


def json_object(data: str) -> dict[str, Any]:
    """One event's JSON payload; anything else means the stream is broken."""
    try:
        value = json.loads(data)
    except ValueError:
        raise MalformedStream(f"not JSON: {data[:80]!r}") from None
    if not isinstance(value, dict):
        raise MalformedStream("event data is not an object")
    return value
