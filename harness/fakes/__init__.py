"""Scripted fake upstreams: LLM providers (OpenAI, Anthropic, Gemini wire formats) and a model hub.

    script.py      what a fake answers, request by request (provider-neutral)
    core.py        the shared ASGI server: plans, faults on the wire, recording
    connections.py TCP connection tracking through uvicorn's h11 protocol
    wire.py        what a wire format supplies; openai.py, anthropic.py, gemini.py implement it
    provider.py    FakeProvider;  hub.py  FakeHub;  facade.py  sync handles for steps
    sse.py         a small spec-following SSE reader, to check what is on the wire
"""

from __future__ import annotations

from harness.fakes.core import RecordedRequest
from harness.fakes.facade import SyncFake, SyncHub, SyncProvider, start_hub, start_provider
from harness.fakes.hub import FakeHub, HubModel, file_bytes, file_sha256
from harness.fakes.provider import FakeProvider, ProviderKind
from harness.fakes.script import (Disconnect, Finish, Ping, ProviderError, Raw, Reply, Script, Stream, Text,
                                  ToolCall, Transfer, script, statuses, text_stream)

__all__ = [
    "Disconnect", "FakeHub", "FakeProvider", "Finish", "HubModel", "Ping", "ProviderError", "ProviderKind",
    "Raw", "RecordedRequest", "Reply", "Script", "Stream", "SyncFake", "SyncHub", "SyncProvider", "Text",
    "ToolCall", "Transfer", "file_bytes", "file_sha256", "script", "start_hub", "start_provider",
    "statuses", "text_stream",
]
