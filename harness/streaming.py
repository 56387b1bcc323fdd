"""A streaming chat client as the harness sees it: every SSE event with its arrival time.

OpenAI-compatible streams: `data: {...}` chunks, `data: [DONE]` on success, and on failure a
terminal `data: {"error": {...}}` event in the error envelope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.patience import NoAnswer, client_patience
from harness.http_client import http_client


@dataclass(frozen=True)
class StreamEvent:
    t: float
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class StreamExchange:
    status: int
    headers: Mapping[str, str]
    events: tuple[StreamEvent, ...]
    body: bytes                       # the whole body when the answer was not a stream
    sent_at: float
    ended_at: float
    disconnected: bool = False        # the client hung up on purpose
    request: bytes = b""              # the body the client sent
    broken: str | None = None         # the transport error that cut the stream off, if one did

    def request_texts(self) -> list[str]:
        """The message contents the client sent: what no event may echo."""
        return message_texts(self.request)

    @property
    def done(self) -> bool:
        return any(e.data.strip() == "[DONE]" for e in self.events)

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [e.json() for e in self.events if e.data.strip() != "[DONE]" and "error" not in e.json()]

    @property
    def error(self) -> dict[str, Any] | None:
        for event in self.events:
            if event.data.strip() != "[DONE]":
                payload = event.json()
                if isinstance(payload, dict) and "error" in payload:
                    return payload["error"]  # type: ignore[no-any-return]
        return None

    @property
    def content_pieces(self) -> list[str]:
        """Text deltas in arrival order: OpenAI chunks' delta.content, or rbee's token events."""
        pieces = []
        for chunk in self.chunks:
            if chunk.get("type") == "token" and chunk.get("t"):
                pieces.append(str(chunk["t"]))
            for choice in chunk.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    pieces.append(text)
        return pieces

    @property
    def terminal_events(self) -> list[str]:
        """rbee stream terminals (`end` / `error`), in order; a well-formed stream has exactly one."""
        return [str(payload.get("type")) for payload in (e.json() for e in self.events if e.data.strip() != "[DONE]")
                if isinstance(payload, dict) and payload.get("type") in ("end", "error")]

    @property
    def text(self) -> str:
        return "".join(self.content_pieces)

    @property
    def first_byte_at(self) -> float | None:
        return self.events[0].t if self.events else None

    def describe(self) -> str:
        broken = f", then the connection broke ({self.broken})" if self.broken else ""
        if not self.events:
            return f"HTTP {self.status}: {self.body[:300]!r}{broken}"
        return f"HTTP {self.status}, {len(self.events)} events, text {self.text!r}, error {self.error}{broken}"


def stream_chat(url: str, body: Mapping[str, Any], headers: Mapping[str, str], *,
                disconnect_after: int | None = None) -> StreamExchange:
    """POST a streaming request and read it to the end (or hang up after `disconnect_after` events),
    waiting for each part of it at most the scenario's client patience (harness.patience)."""
    try:
        return _stream(url, body, headers, disconnect_after, client_patience().seconds)
    except httpx.TimeoutException:
        raise NoAnswer(f"POST {url} (streaming)", client_patience()) from None


def _stream(url: str, body: Mapping[str, Any], headers: Mapping[str, str], disconnect_after: int | None,
            timeout: float) -> StreamExchange:
    sent_at = time.monotonic()
    payload = json.dumps(dict(body)).encode()
    events: list[StreamEvent] = []
    disconnected = False
    broken: str | None = None
    with http_client(timeout) as client, \
            client.stream("POST", url, content=payload,
                          headers={"content-type": "application/json", **dict(headers)}) as response:
        raw = b""
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raw = response.read()
        else:
            try:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        events.append(StreamEvent(time.monotonic(), line[5:].strip()))
                        if disconnect_after is not None and len(events) >= disconnect_after:
                            disconnected = True
                            break
            except httpx.TransportError as exc:  # the server broke the stream off: what came before stands
                broken = f"{type(exc).__name__}: {exc}"
        status, response_headers = response.status_code, dict(response.headers)
    return StreamExchange(status, response_headers, tuple(events), raw, sent_at, time.monotonic(), disconnected,
                          payload, broken)


def message_texts(body: bytes) -> list[str]:
    """The string contents of a chat request body's messages (none when it is not one)."""
    try:
        messages = json.loads(body).get("messages") or []
    except (ValueError, AttributeError):
        return []
    return [m["content"] for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
