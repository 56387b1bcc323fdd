"""What every provider stream is reduced to, and a chat request in the gateway's own terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Finish:
    reason: str


@dataclass(frozen=True)
class ProviderStreamError:
    """An error the provider reported inside a stream that had already started."""

    type: str
    retryable: bool


Event = TextDelta | ToolCallDelta | Finish | ProviderStreamError


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[dict[str, Any], ...] = ()
    stream: bool = False
    # The client's own request headers (its token among them): never forwarded to a provider.
    client_headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Transcript:
    """What one attempt produced so far: text and tool calls, merged from deltas."""

    text: str = ""
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, ToolCallDelta):
            call = self.tool_calls.setdefault(event.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = event.id or call["id"]
            call["name"] = event.name or call["name"]
            call["arguments"] += event.arguments
        elif isinstance(event, Finish):
            self.finish_reason = event.reason

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.tool_calls)

    def tool_call_list(self) -> list[dict[str, str]]:
        return [self.tool_calls[i] for i in sorted(self.tool_calls)]
