"""Gemini generateContent / streamGenerateContent?alt=sse: no [DONE]; the stream ends at EOF."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from reference.gateway.config import ProviderConfig
from reference.gateway.wire.base import MalformedStream, SseEvent, UpstreamRequest, json_object
from reference.gateway.wire.events import (ChatRequest, Event, Finish, ProviderStreamError, TextDelta,
                                           ToolCallDelta)

RETRYABLE_STATUSES = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"}


class GeminiWire:
    def request(self, provider: ProviderConfig, chat: ChatRequest, stream: bool) -> UpstreamRequest:
        contents = [{"role": "model" if m.get("role") == "assistant" else "user",
                     "parts": [{"text": str(m.get("content") or "")}]}
                    for m in chat.messages if m.get("role") != "system"]
        body: dict[str, Any] = {"contents": contents}
        system = [str(m.get("content") or "") for m in chat.messages if m.get("role") == "system"]
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
        config: dict[str, Any] = {}
        if chat.max_tokens is not None:
            config["maxOutputTokens"] = chat.max_tokens
        if chat.temperature is not None:
            config["temperature"] = chat.temperature
        if config:
            body["generationConfig"] = config
        model = provider.model or chat.model
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest(f"{provider.base_url.rstrip('/')}/v1beta/models/{model}:{method}",
                               {"x-goog-api-key": provider.api_key}, body)

    async def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        finished = False
        async for item in sse:
            chunk = json_object(item.data)
            if "error" in chunk:
                status = str((chunk.get("error") or {}).get("status", "INTERNAL"))
                yield ProviderStreamError(status, status in RETRYABLE_STATUSES)
                return
            for event in self.body_events(chunk):
                finished |= isinstance(event, Finish)
                yield event
        if not finished:
            raise MalformedStream("stream ended without a finishReason")

    def body_events(self, body: Any) -> list[Event]:
        events: list[Event] = []
        tools = 0
        for candidate in (body or {}).get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("text"):
                    events.append(TextDelta(str(part["text"])))
                elif part.get("functionCall"):
                    call = part["functionCall"]
                    events.append(ToolCallDelta(tools, f"call_{tools}", call.get("name"),
                                                json.dumps(call.get("args") or {})))
                    tools += 1
            if candidate.get("finishReason"):
                events.append(Finish(str(candidate["finishReason"])))
        return events

