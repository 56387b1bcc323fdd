"""Each fake provider answers in its real wire format, checks its own auth, follows its script."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.fakes import Reply, SyncProvider, script, statuses, text_stream
from harness.fakes.core import REDACTED
from harness.fakes.sse import parse_sse
from harness.history import EventKind, History
from harness.probes import own_connections
from tests.fakes.cases import CASES, KEY, error_type, streamed_text

KINDS = sorted(CASES)
WEATHER = [("get_weather", '{"city":"Paris"}')]


def post(client: httpx.Client, provider: SyncProvider, kind: str, stream: bool,
         key: str | None = KEY) -> httpx.Response:
    case = CASES[kind]
    headers = case.headers(key) if key is not None else {}
    return client.post(provider.url + case.url_path(stream), json=case.body(stream), headers=headers)


def test_openai_non_stream_is_a_chat_completion(make_provider: Callable[..., SyncProvider],
                                                client: httpx.Client) -> None:
    provider = make_provider("openai")
    provider.set_script(script(Reply(text="Hi there")))
    response = post(client, provider, "openai", stream=False)
    assert response.status_code == 200 and response.headers["x-request-id"]
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "m-1"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi there", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_openai_stream_has_role_chunk_deltas_tool_calls_usage_and_done(
        make_provider: Callable[..., SyncProvider], client: httpx.Client) -> None:
    provider = make_provider("openai")
    provider.set_script(script(text_stream("Hello world", 3, tool_calls=WEATHER)))
    case = CASES["openai"]
    response = client.post(provider.url + case.path, headers=case.headers(),
                           json={**case.body(True), "stream_options": {"include_usage": True}})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.content)
    assert all(e.event is None for e in events) and events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed_text("openai", events) == "Hello world"
    tool_deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                   if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert tool_deltas[0]["id"] == "call_1" and tool_deltas[0]["function"]["name"] == "get_weather"
    assert "id" not in tool_deltas[1]
    assert "".join(d["function"]["arguments"] for d in tool_deltas) == '{"city":"Paris"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 9


def test_anthropic_non_stream_is_a_message(make_provider: Callable[..., SyncProvider],
                                           client: httpx.Client) -> None:
    provider = make_provider("anthropic")
    response = post(client, provider, "anthropic", stream=False)
    body = response.json()
    assert response.status_code == 200 and response.headers["request-id"]
    assert body["type"] == "message" and body["role"] == "assistant" and body["stop_reason"] == "end_turn"
    assert body["content"] == [{"type": "text", "text": "Hello from the fake."}]


def test_anthropic_stream_uses_named_events_in_order(make_provider: Callable[..., SyncProvider],
                                                     client: httpx.Client) -> None:
    provider = make_provider("anthropic")
    provider.set_script(script(text_stream("Hello world", 2, tool_calls=WEATHER)))
    events = parse_sse(post(client, provider, "anthropic", stream=True).content)
    names = [e.event for e in events]
    block = ["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"]
    assert names == ["message_start", *block, *block, "message_delta", "message_stop"]
    assert all(e.json()["type"] == e.event for e in events)
    assert events[5].json()["content_block"]["type"] == "tool_use" and events[5].json()["index"] == 1
    assert events[6].json()["delta"]["type"] == "input_json_delta"
    assert events[9].json()["delta"]["stop_reason"] == "tool_use"
    assert streamed_text("anthropic", events) == "Hello world"


def test_gemini_non_stream_and_stream(make_provider: Callable[..., SyncProvider],
                                      client: httpx.Client) -> None:
    provider = make_provider("gemini")
    provider.set_script(script(Reply(text="Hi"), text_stream("Hello world", 3, tool_calls=WEATHER)))
    body = post(client, provider, "gemini", stream=False).json()
    assert body["candidates"][0]["content"] == {"parts": [{"text": "Hi"}], "role": "model"}
    assert body["candidates"][0]["finishReason"] == "STOP" and body["modelVersion"] == "gemini-2.5-flash"
    events = parse_sse(post(client, provider, "gemini", stream=True).content)
    assert all(e.event is None for e in events) and events[-1].data != "[DONE]"
    assert streamed_text("gemini", events) == "Hello world"
    calls = [p["functionCall"] for e in events for p in e.json()["candidates"][0]["content"]["parts"]
             if "functionCall" in p]
    assert calls == [{"name": "get_weather", "args": {"city": "Paris"}}]
    assert events[-1].json()["candidates"][0]["finishReason"] == "STOP"
    assert events[-1].json()["usageMetadata"]["candidatesTokenCount"] > 0


def test_gemini_stream_without_alt_sse_is_one_json_array(make_provider: Callable[..., SyncProvider],
                                                         client: httpx.Client) -> None:
    provider = make_provider("gemini")
    provider.set_script(script(text_stream("Hello world", 3)))
    case = CASES["gemini"]
    response = client.post(provider.url + case.stream_path.removesuffix("?alt=sse"), json=case.body(True),
                           headers=case.headers())
    assert response.headers["content-type"].startswith("application/json")
    elements = response.json()
    assert [p["text"] for e in elements for p in e["candidates"][0]["content"]["parts"]] == [
        "Hell", "o wo", "rld", ""]
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize(("kind", "status", "kind_of_error"), [
    ("openai", 401, "invalid_request_error"), ("anthropic", 401, "authentication_error"),
    ("gemini", 400, "INVALID_ARGUMENT")])
def test_a_wrong_key_gets_the_providers_auth_error_and_keeps_the_script(
        make_provider: Callable[..., SyncProvider], client: httpx.Client, kind: str, status: int,
        kind_of_error: str) -> None:
    provider = make_provider(kind)
    provider.set_script(statuses(503))
    response = post(client, provider, kind, stream=False, key="sk-wrong-secret")
    assert response.status_code == status and error_type(kind, response.json()) == kind_of_error
    assert "sk-wrong-secret" not in response.text
    if kind == "openai":
        assert response.json()["error"]["code"] == "invalid_api_key"
    if kind == "gemini":
        assert response.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert post(client, provider, kind, stream=False, key=None).status_code in (401, 403)
    assert post(client, provider, kind, stream=False).status_code == 503
    assert [r.attempt for r in provider.requests] == [None, None, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_scripted_statuses_and_headers_come_in_order_then_the_last_repeats(
        make_provider: Callable[..., SyncProvider], client: httpx.Client, kind: str) -> None:
    provider = make_provider(kind)
    provider.set_script(script(Reply(429, {"retry-after": "2", "retry-after-ms": "1500"}),
                               Reply(503, {"x-should-retry": "false"}, message="down for a bit"),
                               Reply(200, text="ok")))
    first, second, third, fourth = (post(client, provider, kind, stream=False) for _ in range(4))
    assert [r.status_code for r in (first, second, third, fourth)] == [429, 503, 200, 200]
    assert first.headers["retry-after"] == "2" and first.headers["retry-after-ms"] == "1500"
    assert second.headers["x-should-retry"] == "false"
    assert "down for a bit" in second.text
    expected = {"openai": "requests", "anthropic": "rate_limit_error", "gemini": "RESOURCE_EXHAUSTED"}[kind]
    assert error_type(kind, first.json()) == expected
    assert [r.attempt for r in provider.requests] == [1, 2, 3, 4]


def test_anthropic_529_is_overloaded_error(make_provider: Callable[..., SyncProvider],
                                           client: httpx.Client) -> None:
    provider = make_provider("anthropic")
    provider.set_script(statuses(529))
    response = post(client, provider, "anthropic", stream=True)
    assert response.status_code == 529
    body = response.json()
    assert body["type"] == "error" and body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"].startswith("req_")


def test_gemini_429_carries_retry_info_from_retry_after(make_provider: Callable[..., SyncProvider],
                                                       client: httpx.Client) -> None:
    provider = make_provider("gemini")
    provider.set_script(script(Reply(429, {"retry-after": "37"})))
    error = post(client, provider, "gemini", stream=False).json()["error"]
    assert error["code"] == 429 and error["details"][0]["retryDelay"] == "37s"


def test_requests_are_recorded_as_sent_and_shown_with_secrets_redacted(make_provider: Callable[..., SyncProvider],
                                                     client: httpx.Client, history: History) -> None:
    provider = make_provider("gemini", name="g1")
    provider.set_script(statuses(500, 200))
    post(client, provider, "gemini", stream=True)
    client.post(provider.url + CASES["gemini"].path + f"?key={KEY}", json={})
    first, second = provider.requests
    assert first.redacted_headers["x-goog-api-key"] == REDACTED and first.stream and first.attempt == 1
    assert second.redacted_query["key"] == REDACTED and not second.stream and second.attempt == 2
    assert first.headers["x-goog-api-key"] == KEY and second.query["key"] == KEY  # as sent, for the steps
    assert first.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    requests = history.events(EventKind.REQUEST, "provider:g1")
    assert [e.data["attempt"] for e in requests] == [1, 2] and requests[0].data["reply"] == "reply 500"
    responses = history.events(EventKind.RESPONSE, "provider:g1")
    assert [e.data["status"] for e in responses] == [500, 200]
    assert KEY not in str(provider.requests) and KEY not in str(list(history))


def test_an_unknown_path_gets_a_provider_404(make_provider: Callable[..., SyncProvider],
                                            client: httpx.Client) -> None:
    provider = make_provider("openai")
    response = client.get(provider.url + "/v1/nothing")
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"


def test_the_gateways_own_requests_are_evidence_not_attempts(make_provider: Callable[..., SyncProvider],
                                                             client: httpx.Client, history: History) -> None:
    """A model listing a gateway sends while it starts neither counts as an attempt nor takes a
    scripted reply: the first chat call still gets the script's first answer."""
    provider = make_provider("openai", name="o1")
    provider.set_script(statuses(503, 200))
    assert client.get(provider.url + "/v1/models", headers=CASES["openai"].headers(KEY)).status_code == 404
    assert post(client, provider, "openai", stream=False).status_code == 503
    assert [(r.path, r.attempt) for r in provider.requests] == [("/v1/chat/completions", 1)]
    assert [(r.method, r.path) for r in provider.own_requests] == [("GET", "/v1/models")]
    assert [e.data["path"] for e in history.events(EventKind.OWN_REQUEST, "provider:o1")] == ["/v1/models"]
    assert len(history.events(EventKind.REQUEST, "provider:o1")) == 1
    assert len(history.events(EventKind.RESPONSE, "provider:o1")) == 1


def test_a_connection_that_carried_only_the_gateways_own_requests_holds_no_call(
        make_provider: Callable[..., SyncProvider], history: History) -> None:
    """A gateway keeps its model listing's connection in a pool of its own: it is listed, but the
    checks of the connections a call held do not count it, until it carries an attempt."""
    provider = make_provider("openai", name="o2")
    provider.set_script(statuses(200))
    headers = CASES["openai"].headers(KEY)
    with httpx.Client(timeout=5) as own_pool, httpx.Client(timeout=5) as calls:
        own_pool.get(provider.url + "/v1/models", headers=headers)
        calls.get(provider.url + "/v1/models", headers=headers)
        assert (provider.open_connections(), provider.open_own_connections()) == (0, 2)
        assert post(calls, provider, "openai", stream=False).status_code == 200   # the pooled connection, reused
        assert (provider.open_connections(), provider.open_own_connections()) == (1, 1)
        assert provider.open_idle_connections() == 1   # its whole answer sent: kept alive for reuse
    provider.wait_for_open_connections(0, timeout=5)
    assert len(own_connections(history, "provider:o2")) == 1


def test_a_stream_script_answers_a_non_stream_request_with_one_json(
        make_provider: Callable[..., SyncProvider], client: httpx.Client) -> None:
    provider = make_provider("anthropic")
    provider.set_script(script(text_stream("Hello world", 3, tool_calls=[("f", '{"a": 1}')])))
    body = post(client, provider, "anthropic", stream=False).json()
    assert body["content"] == [{"type": "text", "text": "Hello world"},
                               {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}]
    assert body["stop_reason"] == "tool_use"
