"""Gateway profile scenarios (features/gateway) and their gateway-only phrases."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, when

from catalogue import Clause, vocabulary
from fault_injection.plugin import ScenarioNetwork
from harness.background import InFlight, in_background
from harness.chat import bearer, chat_body, completion_text, error_details
from harness.envelope import error_code
from harness.exchange import Exchange, send
from harness.hang_up import send_and_hold
from harness.checks import CannotCheck, check
from harness.history import Event, History
from harness.metrics import metric_names, sample_sum, sample_value
from harness.portal import BackgroundLoop
from harness.report.evidence import Evidence
from harness.history import EventKind
from harness.errors import WaitTimeout
from harness.report.recording import record_check, record_cooldown, window_check
from harness.breaker_probes import last_answer, Probe
from harness.resolutions import BREAKER_COOLDOWN, CLEANUP, SHUTDOWN, UPSTREAM_TIMEOUT
from harness.rigs.gateway import GatewayRig
from harness.spec_values import TIMEOUTS
from harness.streaming import StreamEvent, StreamExchange, message_texts, stream_chat
from harness.targets import RunningTarget, TargetSpec
from harness.timing import ScenarioTiming
from harness.wait import wait_out_cooldown, wait_until
from harness.http_client import http_client
from steps.common import (about_the_code, assert_exits_within_cleanup, probe_right_after_opening,
                          probe_shortly_before_the_end, require_visible_log)
from steps.timed import decided, timed_then, timed_when
from steps.checked import then

scenarios("gateway")

CHAT_PATH = "/v1/chat/completions"


@pytest.fixture
def gateway_rig(background_loop: BackgroundLoop, history: History, network: ScenarioNetwork,
                evidence: Evidence, target_spec: TargetSpec, start_state: None) -> Iterator[GatewayRig]:
    fixed = target_spec.url.providers if target_spec.url is not None else None
    rig = GatewayRig(background_loop, history, network, fixed=fixed)
    evidence.register("requests the fake providers received", rig.request_log)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def sut_values(gateway_rig: GatewayRig) -> dict[str, Any]:
    """Read when the gateway starts, i.e. after every Given has shaped the rig."""
    unmet = gateway_rig.unmet_by_fixed_configuration()
    if unmet:
        pytest.skip(unmet)
    return gateway_rig.values()


@pytest.fixture
def api_token(target_spec: TargetSpec) -> str:
    """The token a running (url) gateway was configured with, else a fresh one per scenario."""
    return target_spec.url.token if target_spec.url and target_spec.url.token else "fl-" + secrets.token_urlsafe(18)


def _url(sut: RunningTarget) -> str:
    return sut.base_url + CHAT_PATH


# -- Given: the gateway's own settings ------------------------------------------------------

@given(parsers.re(r"the gateway admits (?P<slots>\d+) concurrent requests? and queues (?P<queue>none|\d+)$"))
def given_limits(gateway_rig: GatewayRig, slots: str, queue: str) -> None:
    gateway_rig.limits.max_concurrent = int(slots)
    gateway_rig.limits.max_queue = 0 if queue == "none" else int(queue)


# -- When: what a client does ---------------------------------------------------------------

@when("a client sends a chat completion request", target_fixture="exchange")
def when_send_chat(sut: RunningTarget, api_token: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token))


@when(parsers.parse('a client sends a chat completion request with correlation id "{cid}"'),
      target_fixture="exchange")
def when_send_chat_with_id(sut: RunningTarget, api_token: str, cid: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token, cid))


@when(parsers.parse("a client sends {count:d} chat completion requests one after another"),
      target_fixture="exchanges")
def when_send_many(sut: RunningTarget, api_token: str, count: int) -> list[Exchange]:
    return [send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token)) for _ in range(count)]


@when("a client streams a chat completion", target_fixture="stream_exchange")
def when_stream_chat(sut: RunningTarget, api_token: str) -> StreamExchange:
    return stream_chat(_url(sut), chat_body(stream=True), bearer(api_token))


@when(parsers.parse("a client streams a chat completion and hangs up after {events:d} events"),
      target_fixture="stream_exchange")
def when_stream_and_hang_up(sut: RunningTarget, api_token: str, events: int) -> StreamExchange:
    return stream_chat(_url(sut), chat_body(stream=True), bearer(api_token), disconnect_after=events)


@when(parsers.re(r'(?:a client starts a chat completion request|(?P<count>\d+) clients? starts? (?:a )?chat completion '
                 r'requests?) that stays? in flight at provider "(?P<name>[^"]+)"$'))
def when_start_in_flight(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, in_flight: list[InFlight[Any]],
                         count: str | None, name: str, timing: ScenarioTiming) -> None:
    fake = gateway_rig.provider(name).fake
    for _ in range(int(count or 1)):
        seen = len(fake.requests)
        flight = in_background(partial(send, "POST", _url(sut), json_body=chat_body(), headers=bearer(api_token)))
        in_flight.append(flight)
        wait_until(lambda seen=seen, flight=flight: len(fake.requests) > seen or flight.finished,
                   timeout=timing.clock().patience(TIMEOUTS.request), what=f"the request to reach provider {name}")
        assert len(fake.requests) > seen, f"answered before reaching provider {name}: {flight.wait(0).describe()}"


@when(parsers.parse('a client sends a chat completion request and hangs up once provider "{name}" has received it'))
def when_send_and_hang_up(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, name: str,
                          timing: ScenarioTiming) -> None:
    fake = gateway_rig.provider(name).fake
    seen = len(fake.requests)
    held = send_and_hold(_url(sut), chat_body(), bearer(api_token))
    try:
        fake.wait_for_requests(seen + 1, timeout=timing.clock().patience(TIMEOUTS.request))
    finally:
        early = held.hang_up()
    assert not early, f"the gateway answered before the client hung up: {early[:300]!r}"


@pytest.fixture
def upstream_request_times(gateway_rig: GatewayRig) -> list[float]:
    """When every provider's requests arrived, in order: what the breaker steps measure from."""
    return sorted(r.t for slot in gateway_rig.providers.values() for r in slot.fake.requests)


@when(parsers.parse('the breaker cooldown of provider "{name}" has elapsed'))
def when_cooldown_elapsed(gateway_rig: GatewayRig, exchanges: list[Exchange], name: str, timing: ScenarioTiming,
                          history: History) -> None:
    fake = gateway_rig.provider(name).fake
    record_cooldown(history, fake.source, wait_out_cooldown(
        [r.t for r in fake.requests], timing.clock(), f"provider {name}", answered_at=last_answer(exchanges)))


@when(parsers.parse('a client probes the breaker of provider "{name}" right after it opened'))
def when_probe_right_after_opening(sut: RunningTarget, api_token: str, breaker_probes: list[Probe], name: str) -> None:
    probe_right_after_opening(lambda: send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token)),
                              breaker_probes)


@timed_when(parsers.parse('a client probes the breaker of provider "{name}" shortly before its cooldown ends'),
            BREAKER_COOLDOWN)
def when_probe_before_the_end(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, exchanges: list[Exchange],
                              breaker_probes: list[Probe], name: str, timing: ScenarioTiming) -> None:
    probe_shortly_before_the_end(lambda client: send("POST", _url(sut), json_body=chat_body(),
                                                     headers=bearer(api_token), client=client),
                                 [r.t for r in gateway_rig.provider(name).fake.requests], exchanges, breaker_probes,
                                 timing.clock(), f'provider "{name}"')


@when(parsers.parse('a client sends the raw body "{body}" as a chat completion'), target_fixture="exchange")
def when_send_raw(sut: RunningTarget, api_token: str, body: str) -> Exchange:
    raw = json.loads(f'"{body}"')
    return send("POST", _url(sut), content=raw.encode(),
                headers={**bearer(api_token), "content-type": "application/json"})


@when(parsers.parse("a client sends a chat completion request with {field} set to {value}"),
      target_fixture="exchange")
def when_send_with_field(sut: RunningTarget, api_token: str, field: str, value: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(**{field: json.loads(value)}), headers=bearer(api_token))


@when(parsers.parse("a client sends a chat completion request with model {value}"), target_fixture="exchange")
def when_send_with_model(sut: RunningTarget, api_token: str, value: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(model=json.loads(value)), headers=bearer(api_token))


@when(parsers.parse('a client sends a chat completion request with the message "{message}"'),
      target_fixture="exchange")
def when_send_with_message(sut: RunningTarget, api_token: str, message: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(content=json.loads(f'"{message}"')),
                headers=bearer(api_token))


@when(parsers.parse("a client sends GET {path} to the gateway without a token"), target_fixture="exchange")
def when_get_without_token(sut: RunningTarget, path: str) -> Exchange:
    return send("GET", sut.base_url + path)


@when("a client sends a chat completion request with the valid token and one more character",
      target_fixture="exchange")
def when_send_with_longer_token(sut: RunningTarget, api_token: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token + "x"))


@when(parsers.re(r"a client sends a chat completion request just over the body limit (?P<how>with its Content-Length|"
                 r"in chunks without a Content-Length)$"), target_fixture="exchange")
def when_send_just_over(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, how: str,
                       timing: ScenarioTiming) -> Exchange:
    """A body one byte longer than the configured limit: declared, or streamed in chunks so that
    only counting what arrives can tell."""
    size = gateway_rig.limits.max_body_bytes + 1
    padding = size - len(json.dumps(chat_body(content="")).encode())
    body = json.dumps(chat_body(content="x" * padding)).encode()
    assert len(body) == size
    headers = {**bearer(api_token), "content-type": "application/json"}
    if how.startswith("with"):
        return send("POST", _url(sut), content=body, headers=headers)
    pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))
    sent_at = time.monotonic()
    with http_client(timing.clock().patience(TIMEOUTS.request)) as client:
        response = client.post(_url(sut), content=pieces, headers=headers)
    assert "content-length" not in response.request.headers, "the body went out with a Content-Length"
    return Exchange("POST", _url(sut), response.status_code, dict(response.headers), response.content, sent_at,
                    time.monotonic() - sent_at, body)


@when("a client sends a chat completion request without a token", target_fixture="exchange")
def when_send_without_token(sut: RunningTarget) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body())


@when(parsers.parse('a client sends a chat completion request with the token "{token}"'), target_fixture="exchange")
def when_send_with_token(sut: RunningTarget, token: str) -> Exchange:
    return send("POST", _url(sut), json_body=chat_body(), headers=bearer(token))


def _read_metrics(sut: RunningTarget, target_spec: TargetSpec, api_token: str) -> Exchange:
    route = target_spec.metrics.route
    return send("GET", sut.base_url + route.path, headers=bearer(api_token) if route.token else None)


def _metrics_page(sut: RunningTarget, target_spec: TargetSpec, api_token: str) -> str:
    """The metrics page's text; a check of a metric's value cannot run on anything else."""
    page = _read_metrics(sut, target_spec, api_token)
    if page.status != 200:
        hint = " (if it needs the client's token, say so: [metrics] token = true)" if page.status in (401, 403) else ""
        raise CannotCheck(f"the metrics page did not answer 200{hint}: {page.describe()}")
    return page.text


@when("a client reads the gateway metrics", target_fixture="exchange")
def when_read_metrics(sut: RunningTarget, target_spec: TargetSpec, api_token: str) -> Exchange:
    return _read_metrics(sut, target_spec, api_token)


# -- Then: what the client saw --------------------------------------------------------------

@then(parsers.parse('the client received the text "{text}" and the end of the stream'))
def then_stream_text(stream_exchange: StreamExchange, text: str) -> None:
    assert stream_exchange.status == 200 and stream_exchange.text == text and stream_exchange.done \
        and stream_exchange.error is None, f"expected the text {text!r} and the end of the stream: " \
                                           f"{stream_exchange.describe()}"


@then("no error event reached the client")
def then_no_error_event(stream_exchange: StreamExchange) -> None:
    assert stream_exchange.error is None, f"an error event reached the client: {stream_exchange.describe()}"


@then(parsers.parse('the error details carry the partial text "{text}"'))
def then_partial_text(exchange: Exchange, text: str) -> None:
    assert error_details(exchange).get("partial_text") == text, \
        f"expected the partial text {text!r}: {exchange.describe()}"


@then(parsers.parse('the error details carry a partial tool call "{tool}" with the arguments provider "{name}" sent'))
def then_partial_tool_call(exchange: Exchange, tool: str, gateway_rig: GatewayRig, name: str, history: History,
                           timing: ScenarioTiming) -> None:
    """Name and arguments as the provider sent them before it failed (the fake records what its
    chunks carried when it sees the connection end)."""
    fake = gateway_rig.provider(name).fake
    responses = history.wait_for(EventKind.RESPONSE, fake.source, count=len(fake.requests),
                                 timeout=timing.clock().patience(TIMEOUTS.cleanup))
    sent = [call for e in responses for call in (e.data.get("content_sent") or {}).get("tool_calls", [])
            if call["name"] == tool]
    assert sent, f"provider {name} sent no tool call {tool!r}, so the check says nothing"
    kept = [call for call in error_details(exchange).get("partial_tool_calls") or [] if call.get("name") == tool]
    assert kept, f"no partial tool call {tool!r} in the error details: {exchange.describe()}"
    assert kept[-1].get("arguments") == sent[-1]["arguments"], \
        (f"the partial tool call {tool!r} carries the arguments {kept[-1].get('arguments')!r}; provider {name} "
         f"sent {sent[-1]['arguments']!r}")


@then(parsers.parse('the completion text is "{text}"'))
def then_completion_text(exchange: Exchange, text: str) -> None:
    assert exchange.status == 200 and completion_text(exchange) == text, \
        f"expected the completion text {text!r}: {exchange.describe()}"


def about_the_upstream_timeout(clause: Clause) -> bool:
    """The clauses the moment of giving up speaks for: those that name the 25 s itself, not those
    of the same scenario about what follows it (no retry, the connection closed, the slot free)."""
    return "25 s" in clause.text


@timed_then(parsers.parse('the gateway gave up on provider "{name}" at the upstream timeout'), UPSTREAM_TIMEOUT,
            speaks_for=about_the_upstream_timeout)
def then_gave_up_at_timeout(gateway_rig: GatewayRig, name: str, timing: ScenarioTiming, history: History,
                            request: pytest.FixtureRequest) -> None:
    """Measured where the gateway acts: from when the provider went silent (the request's arrival,
    or its last chunk) to when the gateway dropped that connection, as the fake saw both.

    The gateway's clock starts at a moment the harness can only bracket (a loaded machine puts
    tens of milliseconds between the ends, more in a real-time run of many workers): for a call's
    first request, between the client's send and the fake's stamp of its arrival; for a last
    chunk, between the fake's stamp as it sent it and the client's receipt of it, relayed. The
    low bound is judged on the longest wait that could be, the high bound on the shortest: each
    fails only on a sure violation."""
    fake = gateway_rig.provider(name).fake

    def silences() -> list[Event]:
        return [e for e in history.events(EventKind.RESPONSE, fake.source) if e.data.get("silent_since") is not None]

    # The client may have its answer a moment before the fake notices the dropped connection.
    with suppress(WaitTimeout):
        wait_until(silences, timeout=timing.clock().patience(TIMEOUTS.cleanup), what=f"provider {name} to see a drop")
    assert silences(), (f"provider {name} never saw the gateway drop a silent request: "
                      f"{[(r.reply, r.t) for r in fake.requests]}")
    first = silences()[0]
    started = _silence_began(first, _the_clients_call(request))
    # Judged at both ends of the wait: the gateway waiting for a core as its clock starts or as it
    # drops the connection is the machine's doing (harness.run_queue), as for a retry's delay.
    clock = timing.clock(stamps=[first.t], spans=[(started.earliest, started.latest)])
    window = clock.window(TIMEOUTS.upstream, TIMEOUTS.upstream)
    shortest, longest = first.t - started.latest, first.t - started.earliest
    waited = shortest if shortest > window.high else longest if longest < window.low else shortest
    record_check(history, window_check(f'the gateway waiting on silent provider "{name}": the upstream timeout',
                                       "connection dropped", waited, window.low, window.high, note=clock.note()))
    assert window.low <= longest and shortest <= window.high, (
        f"the gateway dropped provider {name} {first.t - float(first.data['silent_since']):.3f} s after it went "
        f"silent (between {shortest:.3f} and {longest:.3f} s after its clock could have started: "
        f"{started.how}); the {TIMEOUTS.upstream:g} s upstream timeout allows [{window.low:.3f}, {window.high:.3f}] s")
    decided(clock, UPSTREAM_TIMEOUT)


@dataclass(frozen=True)
class SilenceStart:
    earliest: float
    latest: float
    how: str


def _silence_began(drop: Event, call: Exchange | StreamExchange | None) -> SilenceStart:
    """When the gateway's clock on a silent provider can have started, from what the fake and the
    client saw (the fake's stamp alone when the client's view bounds nothing)."""
    stamped = float(drop.data["silent_since"])
    if drop.data.get("chunks_sent") == 0:
        if drop.data.get("attempt") == 1 and call is not None:
            return SilenceStart(min(call.sent_at, stamped), stamped, "from the client's send to the request's arrival")
        return SilenceStart(stamped, stamped, "the request's arrival")
    relayed = [e.t for e in call.events if e.t <= drop.t and _is_content(e)] if isinstance(call, StreamExchange) else []
    if relayed:
        return SilenceStart(stamped, max(stamped, relayed[-1]),
                            "from the fake sending its last chunk to the client receiving it, relayed")
    return SilenceStart(stamped, stamped, "the fake sending its last chunk")


def _is_content(event: StreamEvent) -> bool:
    if event.data.strip() == "[DONE]":
        return False
    with suppress(ValueError):
        payload = event.json()
        return not (isinstance(payload, dict) and "error" in payload)
    return False


def _the_clients_call(request: pytest.FixtureRequest) -> Exchange | StreamExchange | None:
    """The scenario's one client call, as the client saw it (None: it made no single call)."""
    for name in ("exchange", "stream_exchange"):
        with suppress(pytest.FixtureLookupError):
            call = request.getfixturevalue(name)
            if isinstance(call, (Exchange, StreamExchange)):
                return call
    return None


@then(parsers.re(r'the metrics include (?P<names>.+)$'))
def then_metrics_include(exchange: Exchange, names: str, target_spec: TargetSpec) -> None:
    """Each metric the clause names, under the name the target file maps it to ([metrics.names])."""
    assert exchange.status == 200, f"the metrics page: {exchange.describe()}"
    wanted = [target_spec.metrics.name(n.strip().strip('"')) for n in names.replace(" and ", ", ").split(",")]
    present = metric_names(exchange.text)
    missing = [n for n in wanted if n not in present]
    assert not missing, f"metrics missing: {missing}"


def about_metrics(clause: Clause) -> bool:
    """A metric's value speaks for the metrics clauses, not for the behaviour it counts (a
    fallback taken is the fallback clause's, whether or not a counter shows it)."""
    return clause.feature == "metrics"


@then(parsers.parse('the metric "{name}" with {label} "{value}" is {expected:g}'), about_metrics)
def then_metric_value(sut: RunningTarget, target_spec: TargetSpec, api_token: str, name: str, label: str,
                      value: str, expected: float) -> None:
    own = target_spec.metrics.name(name)
    observed = sample_value(_metrics_page(sut, target_spec, api_token), own, {label: value})
    assert observed == expected, f"{own}{{{label}={value!r}}} is {observed}, expected {expected:g}"


@timed_when(parsers.parse('a client sends a chat completion request once the gateway has let go of provider "{name}"'),
            CLEANUP, target_fixture="exchange")
def when_send_after_release(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, name: str,
                            timing: ScenarioTiming) -> Exchange:
    clock = timing.clock()
    try:
        gateway_rig.provider(name).fake.wait_for_open_connections(0, timeout=clock.deadline(TIMEOUTS.cleanup))
    except WaitTimeout as exc:
        # Whether the slot came back cannot be seen while the first request still holds the
        # provider: its cleanup is another clause's (GW-CLEANUP-001), failed in its own scenario.
        pytest.skip(f"not verified: the gateway did not let go of provider {name} within the cleanup timeout, "
                    f"so a second request would not tell whether the first one's slot came back ({exc})")
    decided(clock, CLEANUP)
    return send("POST", _url(sut), json_body=chat_body(), headers=bearer(api_token))


@when(parsers.re(r"(?P<count>\d+) clients send chat completion requests at the same time(?P<own>, each with its own "
                 r"message)?$"), converters={"count": int}, target_fixture="exchanges")
def when_send_concurrently(sut: RunningTarget, api_token: str, count: int, own: str | None,
                           timing: ScenarioTiming) -> list[Exchange]:
    bodies = [chat_body(content=f"Say hello, client {n}" if own else "Say hello") for n in range(1, count + 1)]
    flights = [in_background(partial(send, "POST", _url(sut), json_body=body, headers=bearer(api_token)))
               for body in bodies]
    return [flight.wait(timeout=timing.clock().patience(TIMEOUTS.request)) for flight in flights]


@when(parsers.re(r'(?P<count>\d+) clients send chat completion requests, each with its own message, each once '
                 r'provider "(?P<name>[^"]+)" has seen the one before$'), converters={"count": int},
      target_fixture="exchanges")
def when_send_in_turn(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, count: int, name: str,
                      timing: ScenarioTiming) -> list[Exchange]:
    """Calls that overlap without arriving as one burst: ten new requests at once kept the
    reference's event loop busy long enough to delay the first calls' retries by 25 ms, a delay
    no clause allows and no tolerance measures. Each call goes once the provider has its first
    attempt (a few real milliseconds apart)."""
    fake = gateway_rig.provider(name).fake

    def seen(n: int) -> bool:   # the end of its message as JSON: "client 1" is not "client 10"
        return any(f'client {n}"' in json.dumps(r.json) for r in fake.requests)

    flights = []
    for n in range(1, count + 1):
        body = chat_body(content=f"Say hello, client {n}")
        flights.append(in_background(partial(send, "POST", _url(sut), json_body=body, headers=bearer(api_token))))
        wait_until(partial(seen, n), timeout=timing.clock().patience(TIMEOUTS.request),
                   what=f"provider {name} to see call {n}")
    return [flight.wait(timeout=timing.clock().patience(TIMEOUTS.request)) for flight in flights]


@then(parsers.parse('the error details say provider is "{name}" and upstream_status is {status:d}'))
def then_details_provider(exchange: Exchange, name: str, status: int) -> None:
    details = error_details(exchange)
    assert (details.get("provider"), details.get("upstream_status")) == (name, status), \
        (f"details.provider {details.get('provider')!r} and details.upstream_status "
         f"{details.get('upstream_status')!r}, expected provider is {name!r} and upstream_status is {status}")


@then(parsers.parse('one of them was rejected with "{code}" and the other received "{text}"'))
def then_one_rejected_one_served(exchanges: list[Exchange], code: str, text: str) -> None:
    """Two checks: who was admitted speaks for the scenario's clauses; the rejection's code only
    for those that name it (a gateway's own error format says nothing of its queue)."""
    rejected = [e for e in exchanges if e.status == vocabulary()[code].status]
    served = [e for e in exchanges if e.status == 200 and completion_text(e) == text]
    with check("one rejected and one served"):
        assert len(rejected) == 1 and len(served) == 1, \
            f"expected one rejected and one served: {[e.describe() for e in exchanges]}"
    with check(f"the code {code}", about_the_code(code), fallback_to_all=False):
        if len(rejected) != 1:
            raise CannotCheck("no single rejection to read the code of")
        assert error_code(rejected[0]) == code, f"expected code {code}: {rejected[0].describe()}"


@then(parsers.parse('the metric "{name}" summed over all labels is {expected:g}'), about_metrics)
def then_metric_sum(sut: RunningTarget, target_spec: TargetSpec, api_token: str, name: str, expected: float) -> None:
    own = target_spec.metrics.name(name)
    observed = sample_sum(_metrics_page(sut, target_spec, api_token), own)
    assert observed == expected, f"{own} sums to {observed}, expected {expected:g}"


@timed_then(parsers.parse("the gateway exits within the cleanup timeout"), SHUTDOWN)
def then_exits_in_time(sut: RunningTarget, timing: ScenarioTiming, history: History) -> None:
    assert_exits_within_cleanup(sut, timing.clock(), history, "gateway exit within the cleanup timeout")


@then("the error details name the configured body limit in max_bytes")
def then_max_bytes(exchange: Exchange, gateway_rig: GatewayRig) -> None:
    limit = gateway_rig.limits.max_body_bytes
    assert error_details(exchange).get("max_bytes") == limit, \
        f"details.max_bytes is {error_details(exchange).get('max_bytes')!r}, the configured limit {limit}"


@then(parsers.parse('provider "{name}" received the message unchanged'))
def then_message_unchanged(exchange: Exchange, gateway_rig: GatewayRig, name: str) -> None:
    """Whatever the wire format, the content the client sent is one of the strings the provider got."""
    sent = message_texts(exchange.request)
    requests = gateway_rig.provider(name).fake.requests
    assert sent and requests, "nothing was sent or received, so the check says nothing"
    for request in requests:
        received = list(_strings(request.json))
        missing = [text for text in sent if text not in received]
        assert not missing, f"provider {name} did not receive the message unchanged: sent {missing[0]!r}, " \
                            f"received {[t for t in received if len(t) > 3]}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@then(parsers.parse('the text the client received is a prefix of what provider "{name}" sent, nothing repeated'))
def then_prefix_of_sent(stream_exchange: StreamExchange, gateway_rig: GatewayRig, name: str, history: History,
                        timing: ScenarioTiming) -> None:
    """What reached the client is the start of one answer the provider sent (the fake records what
    each answer's chunks carried): a chunk repeated, dropped or replayed from a retry is not."""
    fake = gateway_rig.provider(name).fake
    responses = history.wait_for(EventKind.RESPONSE, fake.source, count=len(fake.requests),
                                 timeout=timing.clock().patience(TIMEOUTS.cleanup))
    sent = [e.data["content_sent"]["text"] for e in responses if "content_sent" in e.data]
    received = stream_exchange.text
    assert received, f"no text reached the client, so the check says nothing: {stream_exchange.describe()}"
    assert any(text.startswith(received) for text in sent), \
        (f"the text the client received, {received!r}, is not a prefix of what provider {name} sent ({sent}): "
         f"repeated, reordered or altered")


@then("no stream event contains the request's content")
def then_stream_keeps_request(stream_exchange: StreamExchange) -> None:
    texts = stream_exchange.request_texts()
    assert texts, "the request carried no message content, so the check says nothing"
    for text in texts:
        leaked = [e.data for e in stream_exchange.events if text in e.data]
        assert not leaked, f"a stream event the client received contains the request's content {text!r}: {leaked[0]}"


@then(parsers.parse('the gateway log contains neither the client\'s token, nor provider "{name}"\'s API key, nor the '
                    'request\'s content'))
def then_log_keeps_secrets(sut: RunningTarget, api_token: str, gateway_rig: GatewayRig, name: str,
                           exchange: Exchange) -> None:
    require_visible_log(sut)
    log = sut.log_text()
    assert api_token not in log, "the gateway log contains the client's token"
    assert gateway_rig.provider(name).api_key not in log, f"the gateway log contains provider {name}'s API key"
    for text in message_texts(exchange.request):
        assert text not in log, f"the gateway log contains the request's content {text!r}"


@timed_then(parsers.parse('the queued request reached provider "{name}" only once the first had timed out'),
            UPSTREAM_TIMEOUT)
def then_queued_waited(gateway_rig: GatewayRig, name: str, timing: ScenarioTiming, history: History) -> None:
    """The first request stalled after its first chunk and held the only slot until the upstream
    timeout; the queued one must reach the provider then, not before (and not after the request
    timeout its client is waiting out)."""
    times = [r.t for r in gateway_rig.provider(name).fake.requests]
    assert len(times) == 2, f"provider {name} received {len(times)} request(s), expected the first and the queued one"
    clock = timing.clock(stamps=times)
    waited = times[1] - times[0]
    window = clock.window(TIMEOUTS.upstream, TIMEOUTS.request)
    record_check(history, window_check(f'the queued request reaching provider "{name}", after the first',
                                       "queued request arrived", waited, window.low, window.high, note=clock.note()))
    assert waited >= window.low, (f"the queued request reached provider {name} {waited:.3f} s after the first, before "
                                  f"the first timed out ({window.low:.3f} s at the earliest)")
    assert waited <= window.high, (f"the queued request reached provider {name} {waited:.3f} s after the first, "
                                   f"after the request timeout ({window.high:.3f} s)")
    decided(clock, UPSTREAM_TIMEOUT)
