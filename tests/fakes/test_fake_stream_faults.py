"""Scripted stream faults as a client sees them, and the connections the fake records."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from harness.fakes import Disconnect, Ping, ProviderError, Stream, SyncProvider, Text, script, text_stream
from harness.fakes.sse import SseEvent, iter_sse
from harness.history import EventKind, History
from tests.fakes.cases import CASES, KEY, streamed_text

KINDS = sorted(CASES)


def read_stream(client: httpx.Client, provider: SyncProvider, kind: str,
                timeout: httpx.Timeout | None = None) -> tuple[list[SseEvent], Exception | None]:
    """Every complete event received, and the transport error that ended the stream, if any."""
    case = CASES[kind]
    lines: list[str] = []
    error: Exception | None = None
    try:
        with client.stream("POST", provider.url + case.stream_path, json=case.body(True),
                           headers=case.headers(), timeout=timeout or httpx.Timeout(10)) as response:
            assert response.status_code == 200
            lines.extend(response.iter_lines())
    except httpx.TransportError as exc:
        error = exc
    return list(iter_sse(lines)), error


def outcomes(history: History, source: str = "provider:p1") -> list[str]:
    return [e.data["outcome"] for e in history.events(EventKind.RESPONSE, source)]


@pytest.mark.parametrize("kind", KINDS)
def test_cut_after_closes_the_connection_mid_body(make_provider: Callable[..., SyncProvider],
                                                  client: httpx.Client, history: History, kind: str) -> None:
    provider = make_provider(kind)
    provider.set_script(script(text_stream("Hello world", 3, cut_after=2)))
    events, error = read_stream(client, provider, kind)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert streamed_text(kind, events) == "Hello wo"
    assert all(e.data != "[DONE]" and e.event != "message_stop" for e in events)
    history.wait_for(EventKind.RESPONSE, "provider:p1", timeout=5)
    assert outcomes(history) == ["cut"]
    assert history.events(EventKind.RESPONSE)[0].data["chunks_sent"] == 2
    assert history.events(EventKind.RESPONSE)[0].data["content_sent"] == {"text": "Hello wo", "tool_calls": []}


def test_a_reset_cut_ends_the_stream_with_a_transport_error(make_provider: Callable[..., SyncProvider],
                                                            client: httpx.Client, history: History) -> None:
    provider = make_provider("openai")
    provider.set_script(script(text_stream("Hello world", 3, cut_after=1, reset=True)))
    _, error = read_stream(client, provider, "openai")
    assert isinstance(error, (httpx.ReadError, httpx.RemoteProtocolError))
    history.wait_for(EventKind.RESPONSE, "provider:p1", timeout=5)
    assert outcomes(history) == ["reset"]
    provider.wait_for_open_connections(0, timeout=5)


@pytest.mark.parametrize("kind", KINDS)
def test_stall_after_goes_silent_until_the_client_leaves(make_provider: Callable[..., SyncProvider],
                                                         client: httpx.Client, history: History,
                                                         kind: str) -> None:
    provider = make_provider(kind)
    provider.set_script(script(text_stream("Hello world", 3, stall_after=1)))
    events, error = read_stream(client, provider, kind, httpx.Timeout(10, read=0.3))
    assert isinstance(error, httpx.ReadTimeout)
    assert streamed_text(kind, events) == "Hell"
    provider.wait_for_open_connections(0, timeout=5)
    history.wait_for(EventKind.RESPONSE, "provider:p1", timeout=5)
    assert outcomes(history) == ["stalled, client disconnected"]


def test_stopping_the_fake_ends_a_stalled_stream(make_provider: Callable[..., SyncProvider],
                                                 client: httpx.Client, history: History) -> None:
    provider = make_provider("anthropic")
    provider.set_script(script(text_stream("Hello world", 3, stall_after=1)))
    case = CASES["anthropic"]
    with client.stream("POST", provider.url + case.path, json=case.body(True),
                       headers=case.headers()) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("event: message_start")
        started = time.monotonic()
        provider.stop()
        assert time.monotonic() - started < 3
        with pytest.raises(httpx.TransportError):
            for _ in lines:
                pass
    assert provider.open_connections() == 0
    assert outcomes(history) == ["stalled, server stopped"]


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_at_sends_one_broken_event_and_carries_on(make_provider: Callable[..., SyncProvider],
                                                            client: httpx.Client, kind: str) -> None:
    provider = make_provider(kind)
    provider.set_script(script(text_stream("Hello world", 3, malformed_at=1)))
    events, error = read_stream(client, provider, kind)
    assert error is None
    broken = []
    for event in events:
        try:
            json.loads(event.data) if event.data != "[DONE]" else None
        except ValueError:
            broken.append(event)
    assert len(broken) == 1
    good = [e for e in events if e not in broken]
    assert streamed_text(kind, good) == "Hellrld"


@pytest.mark.parametrize(("kind", "status", "check"), [
    ("anthropic", 529, lambda e: e.event == "error" and e.json() == {
        "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ("openai", 500, lambda e: e.event is None and e.json()["error"]["type"] == "server_error"),
    ("gemini", 503, lambda e: e.json()["error"]["code"] == 503
     and e.json()["error"]["status"] == "UNAVAILABLE"),
])
def test_a_mid_stream_provider_error_follows_a_200(make_provider: Callable[..., SyncProvider],
                                                   client: httpx.Client, kind: str, status: int,
                                                   check: Callable[[SseEvent], bool]) -> None:
    provider = make_provider(kind)
    provider.set_script(script(text_stream("Hello world", 2, error=ProviderError(status))))
    events, error = read_stream(client, provider, kind)
    assert error is None and check(events[-1])
    assert streamed_text(kind, events[:-1]) == "Hello world"
    assert all(e.data != "[DONE]" for e in events)


def test_delays_before_headers_and_between_events_are_kept(make_provider: Callable[..., SyncProvider],
                                                           client: httpx.Client) -> None:
    provider = make_provider("openai")
    provider.set_script(script(Stream((Text("a"), Ping(delay=0.2), Text("b", delay=0.2)),
                                      delay_before_headers=0.3)))
    case = CASES["openai"]
    started = time.monotonic()
    arrivals = []
    with client.stream("POST", provider.url + case.path, json=case.body(True),
                       headers=case.headers()) as response:
        headers_at = time.monotonic()
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
    assert headers_at - started >= 0.3
    # Measured from before the request: client-side gaps between events can shrink under load.
    assert len(arrivals) == 3 and arrivals[-1] - started >= 0.3 + 0.4


def test_a_disconnect_reply_answers_nothing_then_the_script_moves_on(
        make_provider: Callable[..., SyncProvider], client: httpx.Client, history: History) -> None:
    provider = make_provider("openai")
    provider.set_script(script(Disconnect(reset=False), Disconnect(), text_stream("ok", 1)))
    case = CASES["openai"]
    for _ in range(2):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(provider.url + case.path, json=case.body(False), headers=case.headers())
    last = client.post(provider.url + case.path, json=case.body(False), headers=case.headers())
    assert last.status_code == 200
    history.wait_for(EventKind.RESPONSE, "provider:p1", count=3, timeout=5)
    assert outcomes(history) == ["disconnected", "reset", "complete"]


def test_connections_are_recorded_and_counted(make_provider: Callable[..., SyncProvider],
                                              history: History) -> None:
    provider = make_provider("openai")
    case = CASES["openai"]
    with (httpx.Client(timeout=10, trust_env=False) as first,
          httpx.Client(timeout=10, trust_env=False) as second):
        for http in (first, first, second):
            http.post(provider.url + case.path, json=case.body(False), headers=case.headers())
        assert provider.open_connections() == 2
        requests = history.events(EventKind.REQUEST, "provider:p1")
        assert [e.data["connection"] for e in requests] == [1, 1, 2]
    provider.wait_for_open_connections(0, timeout=5)
    opened = history.events(EventKind.CONNECTION_OPEN, "provider:p1")
    closed = history.events(EventKind.CONNECTION_CLOSE, "provider:p1")
    assert sorted(e.data["connection"] for e in opened) == [1, 2]
    assert sorted(e.data["connection"] for e in closed) == [1, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_a_client_leaving_mid_stream_closes_the_upstream_connection(
        make_provider: Callable[..., SyncProvider], history: History, kind: str) -> None:
    provider = make_provider(kind)
    provider.set_script(script(text_stream("Hello world", 3, delay=0.5)))
    case = CASES[kind]
    with (httpx.Client(timeout=10, trust_env=False) as http,
          http.stream("POST", provider.url + case.stream_path, json=case.body(True),
                      headers=case.headers()) as response):
        assert response.status_code == 200
        received = response.iter_bytes()  # held: a dropped iterator would close the response
        next(received)
        assert provider.open_connections() == 1
    provider.wait_for_open_connections(0, timeout=5)
    history.wait_for(EventKind.RESPONSE, "provider:p1", timeout=5)
    assert outcomes(history) == ["client disconnected"]
    assert len(history.events(EventKind.CONNECTION_CLOSE, "provider:p1")) == 1


def test_the_wrong_key_is_not_an_attempt_even_while_stalling(make_provider: Callable[..., SyncProvider],
                                                             client: httpx.Client) -> None:
    provider = make_provider("openai", api_key=KEY)
    provider.set_script(script(text_stream("x", 1, stall_after=0)))
    case = CASES["openai"]
    response = client.post(provider.url + case.path, json=case.body(True), headers=case.headers("nope"))
    assert response.status_code == 401 and provider.requests[0].reply == "auth failed"


def test_the_content_sent_before_a_stall_is_recorded_with_tool_calls(make_provider: Callable[..., SyncProvider],
                                                                    client: httpx.Client, history: History) -> None:
    provider = make_provider("openai")
    provider.set_script(script(text_stream("Hi", 1, tool_calls=[("get_weather", '{"city": "Paris"}')],
                                           stall_after=3)))
    events, error = read_stream(client, provider, "openai", timeout=httpx.Timeout(10, read=0.3))
    assert isinstance(error, httpx.ReadTimeout) and streamed_text("openai", events) == "Hi"
    (response,) = history.wait_for(EventKind.RESPONSE, "provider:p1", timeout=5)
    assert response.data["content_sent"] == {"text": "Hi", "tool_calls": [{"name": "get_weather",
                                                                           "arguments": '{"city": "Paris"}'}]}
