"""The script model, the SSE reader and the sync facade, without wire details."""

from __future__ import annotations

import httpx
import pytest

from harness.fakes import (
    Disconnect,
    Finish,
    ProviderError,
    Reply,
    Script,
    Stream,
    Text,
    ToolCall,
    Transfer,
    script,
    start_provider,
    statuses,
    text_stream,
)
from harness.fakes.provider import FakeProvider
from harness.fakes.script import split_text
from harness.fakes.sse import parse_sse
from harness.history import EventKind, History
from harness.portal import BackgroundLoop


def test_replies_are_consumed_in_order_then_the_last_or_then_repeats() -> None:
    plain = script(Reply(503), Reply(200))
    assert [plain.reply_for(i).status for i in range(4)] == [503, 200, 200, 200]  # type: ignore[union-attr]
    with_then = script(Reply(503), then=Disconnect())
    assert with_then.reply_for(0) == Reply(503) and with_then.reply_for(5) == Disconnect()
    assert Script().reply_for(0) == Reply()


def test_statuses_puts_the_headers_on_errors_only() -> None:
    replies = statuses(429, 200, headers={"Retry-After": "3"}).replies
    assert replies[0].headers == {"retry-after": "3"} and replies[1].headers == {}  # type: ignore[union-attr]


def test_text_stream_builds_deltas_tool_calls_and_a_finish() -> None:
    stream = text_stream("Hello world", 3, tool_calls=[("f", '{"a":1}')], cut_after=2)
    assert stream.events[:3] == (Text("Hell"), Text("o wo"), Text("rld"))
    assert [e.arguments for e in stream.events if isinstance(e, ToolCall)] == ['{"a"', ':1}']
    assert stream.events[-1] == Finish("tool_calls") and stream.cut_after == 2
    assert text_stream("Hi", error=ProviderError(529)).events[-1] == ProviderError(529)
    assert split_text("ab", 5) == ["a", "b"]
    assert "cut_after=2" in stream.describe()


def test_scripts_are_immutable_and_fakes_refuse_foreign_replies(history: History) -> None:
    stream = Stream([Text("a")], headers={"X-A": "1"})
    with pytest.raises(AttributeError):
        stream.cut_after = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        stream.headers["x-b"] = "2"  # type: ignore[index]
    with pytest.raises(ValueError):
        FakeProvider("openai", "p", history, "k").set_script(script(Transfer()))
    with pytest.raises(ValueError):
        FakeProvider("mistral", "p", history, "k")  # type: ignore[arg-type]


def test_sse_reader_follows_the_spec() -> None:
    events = parse_sse(b": comment\nevent: a\ndata: 1\ndata: 2\n\ndata:x\r\n\r\ndata: unterminated")
    assert [(e.event, e.data) for e in events] == [("a", "1\n2"), (None, "x")]


def test_the_sync_facade_starts_scripts_and_stops_a_fake(background_loop: BackgroundLoop,
                                                        history: History) -> None:
    with start_provider(background_loop, "openai", "sync", history, "k", statuses(418)) as provider:
        with httpx.Client(trust_env=False, timeout=10) as http:
            response = http.post(provider.url + "/v1/chat/completions", json={},
                                 headers={"authorization": "Bearer k"})
            assert response.status_code == 418
        assert provider.wait_for_requests(1, timeout=5)[0].reply == "reply 418"
        url = provider.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2, trust_env=False)
    assert [e.kind for e in history.events(source="provider:sync")][:2] == [EventKind.CONNECTION_OPEN,
                                                                           EventKind.REQUEST]
