"""The client-facing wire format: OpenAI chat completions, chunks, and a terminal error event."""

from __future__ import annotations

import json
import time
from typing import Any

from reference.gateway.wire.events import Event, Finish, TextDelta, ToolCallDelta, Transcript


def completion(correlation_id: str, model: str, transcript: Transcript) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": transcript.text or None}
    calls = transcript.tool_call_list()
    if calls:
        message["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
    return {"id": f"chatcmpl-{correlation_id}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": transcript.finish_reason or "stop"}]}


def chunk(correlation_id: str, model: str, event: Event, first: bool) -> bytes | None:
    delta: dict[str, Any] = {"role": "assistant"} if first else {}
    finish = None
    if isinstance(event, TextDelta):
        delta["content"] = event.text
    elif isinstance(event, ToolCallDelta):
        call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
        if event.id:
            call["id"], call["type"] = event.id, "function"
        if event.name:
            call["function"]["name"] = event.name
        delta["tool_calls"] = [call]
    elif isinstance(event, Finish):
        finish = event.reason
    else:
        return None
    body = {"id": f"chatcmpl-{correlation_id}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return sse(body)


def sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


DONE = b"data: [DONE]\n\n"
