"""Anthropic Messages: named events, `ping`, `event: error` (overloaded_error), HTTP 529."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from reference.gateway.config import ProviderConfig
from reference.gateway.wire.base import MalformedStream, SseEvent, UpstreamRequest, json_object
from reference.gateway.wire.events import (ChatRequest, Event, Finish, ProviderStreamError, TextDelta,
                                           ToolCallDelta)

RETRYABLE_ERROR_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
DEFAULT_MAX_TOKENS = 1024


class AnthropicWire:
    def request(self, provider: ProviderConfig, chat: ChatRequest, stream: bool) -> UpstreamRequest:
        system = [str(m.get("content") or "") for m in chat.messages if m.get("role") == "system"]
        messages = [{"role": "assistant" if m.get("role") == "assistant" else "user",
                     "content": m.get("content") or " "} for m in chat.messages if m.get("role") != "system"]
        body: dict[str, Any] = {"model": provider.model or chat.model, "messages": messages, "stream": stream,
                                "max_tokens": chat.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = "\n".join(system)
        if chat.temperature is not None:
            body["temperature"] = chat.temperature
        if chat.tools:
            body["tools"] = [{"name": t.get("function", {}).get("name", ""),
                              "input_schema": t.get("function", {}).get("parameters", {"type": "object"})}
                             for t in chat.tools]
        return UpstreamRequest(provider.base_url.rstrip("/") + "/v1/messages",
                               {"x-api-key": provider.api_key, "anthropic-version": "2023-06-01"}, body)

    async def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        tool_blocks: dict[int, int] = {}
        async for item in sse:
            if item.event == "ping":
                continue
            data = json_object(item.data)
            kind = item.event if item.event != "message" else str(data.get("type", ""))
            if kind == "error":
                error_type = str((data.get("error") or {}).get("type", "api_error"))
                yield ProviderStreamError(error_type, error_type in RETRYABLE_ERROR_TYPES)
                return
            if kind == "content_block_start":
                block = data.get("content_block") or {}
                if block.get("type") == "tool_use":
                    index = tool_blocks.setdefault(int(data.get("index", 0)), len(tool_blocks))
                    yield ToolCallDelta(index, block.get("id"), block.get("name"))
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(str(delta["text"]))
                elif delta.get("type") == "input_json_delta":
                    index = tool_blocks.setdefault(int(data.get("index", 0)), len(tool_blocks))
                    yield ToolCallDelta(index, arguments=str(delta.get("partial_json", "")))
            elif kind == "message_delta":
                reason = (data.get("delta") or {}).get("stop_reason")
                if reason:
                    yield Finish(str(reason))
            elif kind == "message_stop":
                return
        raise MalformedStream("stream ended without message_stop")

    def body_events(self, body: Any) -> list[Event]:
        events: list[Event] = []
        tools = 0
        for block in (body or {}).get("content") or []:
            if block.get("type") == "text" and block.get("text"):
                events.append(TextDelta(str(block["text"])))
            elif block.get("type") == "tool_use":
                events.append(ToolCallDelta(tools, block.get("id"), block.get("name"),
                                            json.dumps(block.get("input") or {})))
                tools += 1
        if (body or {}).get("stop_reason"):
            events.append(Finish(str(body["stop_reason"])))
        return events

