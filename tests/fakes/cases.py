"""How a test client talks to each fake provider: paths, auth headers, and how to read a stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.fakes.sse import SseEvent

KEY = "sk-fake-key-123"


@dataclass(frozen=True)
class Case:
    kind: str
    path: str
    stream_path: str
    auth_header: str
    auth_prefix: str = ""

    def headers(self, key: str = KEY) -> dict[str, str]:
        return {self.auth_header: self.auth_prefix + key}

    def body(self, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": "m-1", "messages": [{"role": "user", "content": "hi"}]}
        if self.kind == "gemini":
            return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        if self.kind == "anthropic":
            body["max_tokens"] = 64
        if stream:
            body["stream"] = True
        return body

    def url_path(self, stream: bool) -> str:
        return self.stream_path if stream else self.path


CASES = {
    "openai": Case("openai", "/v1/chat/completions", "/v1/chat/completions", "authorization", "Bearer "),
    "anthropic": Case("anthropic", "/v1/messages", "/v1/messages", "x-api-key"),
    "gemini": Case("gemini", "/v1beta/models/gemini-2.5-flash:generateContent",
                   "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "x-goog-api-key"),
}


def streamed_text(kind: str, events: list[SseEvent]) -> str:
    """The text a client assembles from a provider's stream."""
    pieces = []
    for event in events:
        if event.data == "[DONE]":
            continue
        payload: Mapping[str, Any] = event.json()
        if kind == "openai":
            pieces += [c["delta"].get("content") or "" for c in payload.get("choices", [])]
        elif kind == "anthropic":
            if payload.get("type") == "content_block_delta" and payload["delta"]["type"] == "text_delta":
                pieces.append(payload["delta"]["text"])
        else:
            for candidate in payload.get("candidates", []):
                pieces += [p.get("text", "") for p in candidate["content"]["parts"]]
    return "".join(pieces)


def error_type(kind: str, body: Mapping[str, Any]) -> str:
    if kind == "anthropic":
        return str(body["error"]["type"])
    if kind == "gemini":
        return str(body["error"]["status"])
    return str(body["error"]["type"])
