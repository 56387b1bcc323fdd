"""OpenAI Chat Completions: `data:` chunks, `[DONE]`, `{"error": ...}` objects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from reference.gateway.config import ProviderConfig
from reference.gateway.wire.base import MalformedStream, SseEvent, UpstreamRequest, json_object
from reference.gateway.wire.events import (ChatRequest, Event, Finish, ProviderStreamError, TextDelta,
                                           ToolCallDelta)

RETRYABLE_ERROR_TYPES = {"server_error", "rate_limit_exceeded", "overloaded", "timeout"}


class OpenAIWire:
    def request(self, provider: ProviderConfig, chat: ChatRequest, stream: bool) -> UpstreamRequest:
        body: dict[str, Any] = {"model": provider.model or chat.model, "messages": list(chat.messages),
                                "stream": stream}
        if chat.max_tokens is not None:
            body["max_tokens"] = chat.max_tokens
        if chat.temperature is not None:
            body["temperature"] = chat.temperature
        if chat.tools:
            body["tools"] = list(chat.tools)
        return UpstreamRequest(provider.base_url.rstrip("/") + "/v1/chat/completions",
                               {"authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}, body)

    async def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        """Either [DONE] or a finish_reason ends the answer (GW-STREAM-007); an end of the body
        before both is an interruption."""
        finished = False
        async for item in sse:
            if item.data.strip() == "[DONE]":
                return
            chunk = json_object(item.data)
            if "error" in chunk:
                error = chunk.get("error") or {}
                kind = str(error.get("type") or error.get("code") or "server_error")
                yield ProviderStreamError(kind, kind in RETRYABLE_ERROR_TYPES)
                return
            for choice in chunk.get("choices") or []:
                for event in _delta_events(choice.get("delta") or {}):
                    yield event
                if choice.get("finish_reason"):
                    finished = True
                    yield Finish(str(choice["finish_reason"]))
        if not finished:
            raise MalformedStream("stream ended without [DONE] or a finish_reason")

    def body_events(self, body: Any) -> list[Event]:
        events: list[Event] = []
        for choice in (body or {}).get("choices") or []:
            message = choice.get("message") or {}
            if message.get("content"):
                events.append(TextDelta(str(message["content"])))
            for index, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                events.append(ToolCallDelta(index, call.get("id"), function.get("name"),
                                            function.get("arguments") or ""))
            if choice.get("finish_reason"):
                events.append(Finish(str(choice["finish_reason"])))
        return events


def _delta_events(delta: dict[str, Any]) -> list[Event]:
    events: list[Event] = []
    if delta.get("content"):
        events.append(TextDelta(str(delta["content"])))
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        events.append(ToolCallDelta(int(call.get("index", 0)), call.get("id"), function.get("name"),
                                    function.get("arguments") or ""))
    return events

