"""Phrases shared by both profiles: the system under test's lifecycle and HTTP responses."""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, when

from catalogue import Clause, vocabulary
from harness.chat import bearer, error_details
from harness.checks import CannotCheck, check
from harness.background import InFlight
from harness.envelope import (code_answer_problems, envelope_problems, envelope_shape_problems, error_code,
                              error_field, retry_after_problems)
from harness.exchange import Exchange, exchange_of, send
from harness.fuzz import random_bodies
from harness.history import EventKind, History
from harness.breaker_probes import (last_answer, RIGHT_AFTER_OPENING, SHORTLY_BEFORE_THE_END, Probe, late_probe_at,
                                    opened_cooldown, rejection_problems, countdown_problems, stray_requests,
                                    surely_open_until, within_cooldown)
from harness.report.recording import (ProbeCall, breaker_check, jitter_check, process_exit_check, record_check,
                                      window_check)
from harness.resolutions import (AT_ONCE_ANSWER, BREAKER_COOLDOWN, BREAKER_LATE_PROBE, RETRY_AFTER_SECONDS,
                                 SHUTDOWN, UPSTREAM_TIMEOUT)
from harness.calibration import ToleranceMonitor
from harness.jitter import check_jitter
from harness.schedule import BackoffSchedule
from harness.timing import Clock, ScenarioTiming
from harness.report.evidence import Evidence
from harness.spec_values import TIMEOUTS
from harness.streaming import StreamExchange
from harness.targets import RunningTarget, TargetContext, TargetSpec, make_target
from harness.targets.url import UrlTarget
from harness.wait import wait_until, wait_until_instant
from harness.http_client import http_client
from steps.timed import decided, timed_then
from steps.checked import then


@pytest.fixture
def sut_values() -> dict[str, Any]:
    """Profile-specific placeholder values (fakes' URLs, limits); profiles override this."""
    return {}


@pytest.fixture
def sut_context(time_scale: float, api_token: str, sut_values: dict[str, Any], history: History) -> TargetContext:
    return TargetContext(time_scale, api_token, sut_values, history)


@pytest.fixture
def before_stop_checks() -> list[Callable[[RunningTarget], None]]:
    """Checks run at the end of a scenario while the SUT still runs; profiles add their own."""
    return []


@pytest.fixture
def start_state(target_spec: TargetSpec, evidence: Evidence) -> None:
    """A running (url) target with a reset request is put back to its start state before the scenario
    builds anything it could reach; every other target starts afresh for each scenario anyway."""
    if target_spec.url is None or target_spec.url.reset is None:
        return
    answer = UrlTarget(target_spec).reset_to_start_state()
    evidence.register("reset before the scenario", lambda: answer)


@pytest.fixture
def sut(target_spec: TargetSpec, sut_context: TargetContext, start_state: None,
        before_stop_checks: list[Callable[[RunningTarget], None]], evidence: Evidence,
        tolerance_monitor: ToleranceMonitor) -> Iterator[RunningTarget]:
    running = make_target(target_spec).start(sut_context)
    evidence.register(f"{running.name} log (last 200 lines)", lambda: running.log_tail(200))
    try:
        # the checks that compare stamps count the time the machine kept it from acting
        with tolerance_monitor.target.watching(running.pid):
            yield running
        for check in before_stop_checks:  # before the harness's own stop, which would hide a leak
            check(running)
    finally:
        running.stop()


@pytest.fixture
def in_flight() -> Iterator[list[InFlight[Any]]]:
    """Requests a scenario left running on purpose; their threads end with the SUT."""
    flights: list[InFlight[Any]] = []
    yield flights


@given(parsers.re(r"the (?P<profile>hive|gateway) is running"))
def given_sut_running(sut: RunningTarget) -> None:
    assert sut.is_running(), f"{sut.name} is not running:\n{sut.log_tail()}"


@when(parsers.re(r"a client sends (?P<method>GET|POST|PUT|DELETE) (?P<path>/\S*) to the (?:hive|gateway)"),
      target_fixture="exchange")
def when_client_sends(sut: RunningTarget, method: str, path: str, api_token: str) -> Exchange:
    return send(method, sut.base_url + path, headers={"Authorization": f"Bearer {api_token}"})


@when(parsers.re(r"a client calls the (?:hive|gateway)'s health route without a token$"), target_fixture="exchange")
def when_health_route(sut: RunningTarget, target_spec: TargetSpec) -> Exchange:
    """The route the target file names (GET /health, GET /v1/health by default): the health
    clauses ask it without a token, whatever the target's probes use."""
    return send("GET", sut.base_url + target_spec.health.path)


@then(parsers.re(r"the (?:hive|gateway)'s health route still answers 200 without a token$"))
def then_health_route_answers(sut: RunningTarget, target_spec: TargetSpec) -> None:
    answer = send("GET", sut.base_url + target_spec.health.path)
    assert answer.status == 200, f"the health route: {answer.describe()}"


@then(parsers.re(r"the (?:hive|gateway) is still healthy$"))
def then_still_healthy(sut: RunningTarget, target_spec: TargetSpec, api_token: str) -> None:
    """A probe, not the health clause: it sends the token where the target file says it needs one."""
    assert sut.is_running(), f"{sut.name} is no longer running:\n{sut.log_tail()}"
    answer = send("GET", sut.base_url + target_spec.health.path,
                  headers=bearer(api_token) if target_spec.health.token else None)
    assert answer.status == 200, f"the health route: {answer.describe()}"


@then(parsers.parse("the response status is {status:d}"))
def then_status_is(exchange: Exchange, status: int) -> None:
    assert exchange.status == status, f"expected HTTP {status}: {exchange.describe()}"


def not_about_health(clause: Clause) -> bool:
    """What a count of the provider's requests speaks for: the scenario's clauses but its health
    clauses, which only a health probe verifies (a breaker scenario checks health beside it)."""
    return clause.area != "health"


def about_the_envelope(clause: Clause) -> bool:
    """The clauses an envelope's shape speaks for: the vocabulary's, and the envelope clauses about
    its fields or the routes that answer in it (not the one about what no answer may contain)."""
    return clause.area == "vocabulary" or (clause.area == "envelope" and any(
        word in clause.text for word in ('{"error"', "error envelope", "error.")))


def not_about_the_envelope(clause: Clause) -> bool:
    """What a log line's presence speaks for: not the envelope clauses (a line that is there says
    nothing of what the answers or the log must leave out)."""
    return clause.area != "envelope"


def about_the_code(code: str) -> Callable[[Clause], bool]:
    """The clauses an error code speaks for: those the envelope's shape speaks for (what a code
    requires of its answer is the envelope's too), and those that name the code."""
    return lambda clause: about_the_envelope(clause) or code in clause.text


def assert_answered_with_code(exchange: Exchange, code: str) -> None:
    """The code, and what the vocabulary says an answer with it carries (status, details, Retry-After)."""
    assert error_code(exchange) == code, f"expected code {code}: {exchange.describe()}"
    problems = code_answer_problems(exchange, vocabulary())
    assert not problems, f"the {code} answer is not as its vocabulary entry says: {problems}; {exchange.describe()}"


@then(parsers.parse('the response is an error envelope with code "{code}"'))
def then_error_envelope(exchange: Exchange, code: str) -> None:
    """Two checks: the envelope's shape speaks only for the envelope and vocabulary clauses, so a
    malformed envelope says nothing of the behaviour the scenario is about; the code, with the
    status and details it requires, speaks for the clauses that name it (or, when none does, for
    all of the scenario's)."""
    with check("the envelope's shape", about_the_envelope, fallback_to_all=False):
        problems = envelope_shape_problems(exchange, vocabulary())
        assert not problems, f"not a conforming error envelope: {problems}; {exchange.describe()}"
    with check(f"the code {code}", about_the_code(code)):
        assert_answered_with_code(exchange, code)


@then(parsers.parse('every response was an error envelope with code "{code}"'))
def then_every_response(exchanges: list[Exchange], code: str) -> None:
    with check("the envelopes' shape", about_the_envelope, fallback_to_all=False):
        for exchange in exchanges:
            problems = envelope_shape_problems(exchange, vocabulary())
            assert not problems, f"not a conforming error envelope: {problems}; {exchange.describe()}"
    with check(f"the code {code}", about_the_code(code)):
        for exchange in exchanges:
            assert_answered_with_code(exchange, code)


@then(parsers.re(r'the (?:hive|gateway) log has a line with "(?P<first>[^"]+)" and "(?P<second>[^"]+)"$'),
      not_about_the_envelope)
def then_log_line(sut: RunningTarget, first: str, second: str, timing: ScenarioTiming) -> None:
    require_visible_log(sut)
    wait_until(lambda: any(first in line and second in line for line in sut.log_text().splitlines()),
               timeout=timing.clock().patience(0.0), what=f"a log line with {first!r} and {second!r}",
               describe=lambda: sut.log_tail(10))


@then(parsers.re(r'the (?:hive|gateway) log does not contain "(?P<text>[^"]+)"$'))
def then_log_lacks(sut: RunningTarget, text: str) -> None:
    require_visible_log(sut)
    assert text not in sut.log_text(), f"the {sut.name} log contains {text!r}"


def require_visible_log(sut: RunningTarget) -> None:
    if not getattr(sut, "log_visible", True):  # an empty log would prove nothing
        pytest.skip(f"{sut.name} is a running service whose target file declares no [url] log_file, so its log "
                    f"is not visible")


@pytest.fixture
def breaker_probes() -> list[Probe]:
    """Calls made while a breaker was open, in order, each labelled with when it was meant to go."""
    return []


def probe_right_after_opening(call: Callable[[], Exchange], probes: list[Probe]) -> None:
    probes.append(Probe(RIGHT_AFTER_OPENING, call()))


def probe_shortly_before_the_end(call: Callable[[httpx.Client], Exchange], request_times: list[float],
                                 opening_calls: list[Exchange], probes: list[Probe], clock: Clock,
                                 upstream: str) -> None:
    """Sends the probe BREAKER_LATE_PROBE spec seconds before the earliest the cooldown can end:
    from the upstream's last request of the call that opened the breaker, not from its answer.
    The client is made before the wait, so the probe leaves when planned."""
    cooldown = opened_cooldown(request_times, last_answer(opening_calls), clock)
    with http_client(clock.patience(TIMEOUTS.request)) as client:
        wait_until_instant(late_probe_at(cooldown, clock),
                           what=f"{BREAKER_LATE_PROBE:g} spec s before the breaker cooldown of {upstream} ends")
        probes.append(Probe(SHORTLY_BEFORE_THE_END, call(client)))
    decided(clock, BREAKER_COOLDOWN)


def breaker_clock(timing: ScenarioTiming, opening_calls: list[Exchange], probes: list[Probe],
                  request_times: list[float]) -> Clock:
    """The clock of a check on the probes sent while a breaker was open. It compares only the
    instants the cooldown is known from (the upstream's last request before the opening call's
    answer, and that answer) and the times each probe was out, so only the stalls that held up
    one of those count, not the long retry cycles that opened the breaker."""
    opened_by = last_answer(opening_calls)
    opened_at = max((t for t in request_times if t <= opened_by), default=opened_by)
    return timing.clock(stamps=[opened_at, opened_by], spans=[p.exchange.span for p in probes])


def assert_probes_rejected(probes: list[Probe], opening_calls: list[Exchange], request_times: list[float],
                           clock: Clock, history: History, upstream: str) -> None:
    """Every probe sent during the cooldown: rejected at once with 503 CIRCUIT_BREAKER_OPEN, and
    the upstream saw no request from the one that opened the breaker until the cooldown's earliest
    end. A probe the harness sent too late to tell is not verified, after any sure violation."""
    assert probes, "no probe was sent while the breaker was open"
    cooldown = opened_cooldown(request_times, last_answer(opening_calls), clock)
    opening = [t for t in request_times if t <= cooldown.opened_at]
    record_check(history, breaker_check(
        f"breaker of {upstream}: probes during its cooldown", request_times, cooldown, len(opening),
        time.monotonic(), [ProbeCall(p.label, p.exchange.sent_at, p.exchange.answered_at, clock.at_once)
                           for p in probes]))
    problems = [problem for p in probes for problem in rejection_problems(p, cooldown, request_times, clock, upstream)]
    stray = stray_requests(request_times, cooldown, probes)
    if stray:
        problems.append(f"{upstream} received {len(stray)} request(s) during the cooldown while no probe was out")
    assert not problems, "; ".join(problems)
    late = [p for p in probes if not within_cooldown(p, cooldown, clock)]
    if late:
        pytest.skip(f"not verified: the probe {late[0].label} was sent only "
                    f"{surely_open_until(cooldown) - late[0].exchange.sent_at:.3f} s (real) before the earliest "
                    f"end of the cooldown, less than an answer at once may take ({clock.at_once:.3f} s): the "
                    f"machine was too busy to send it in time")
    decided(clock, AT_ONCE_ANSWER)


@timed_then(parsers.parse("every probe carried a Retry-After of the cooldown left"), RETRY_AFTER_SECONDS)
def then_probes_retry_after(breaker_probes: list[Probe], exchanges: list[Exchange],
                            upstream_request_times: list[float], timing: ScenarioTiming) -> None:
    """Each probe's Retry-After counts down the cooldown: the breaker opened between the
    upstream's last request and the client's receipt of the opening call's answer, and the
    implementation computed the header while the probe was out (harness.breaker_probes)."""
    clock = breaker_clock(timing, exchanges, breaker_probes, upstream_request_times)
    assert breaker_probes, "no probe was sent while the breaker was open"
    cooldown = opened_cooldown(upstream_request_times, last_answer(exchanges), clock)
    problems = [problem for p in breaker_probes for problem in countdown_problems(p, cooldown, clock)]
    assert not problems, "; ".join(problems)
    decided(clock, RETRY_AFTER_SECONDS)


def arrivals_between(request_times: list[float], start: float, end: float) -> list[float]:
    """The upstream requests that arrived while a call (or calls) sent at `start` and answered at
    `end` were out."""
    return [t for t in request_times if start <= t <= end]


@then(parsers.parse("every response had status {status:d}"))
def then_every_status(exchanges: list[Exchange], status: int) -> None:
    wrong = [e.describe() for e in exchanges if e.status != status]
    assert not wrong, f"{len(wrong)} of {len(exchanges)} response(s) were not HTTP {status}: {wrong}"


@then(parsers.parse('the response carries the correlation id "{cid}" in its header and its error'))
def then_correlation_echoed(exchange: Exchange, cid: str) -> None:
    assert (exchange.headers.get("x-correlation-id"), error_field(exchange, "correlation_id")) == (cid, cid), \
        f"the correlation id {cid!r} is not in its header and its error: {exchange.headers}; {exchange.describe()}"


@then("the response carries a generated correlation id in its header and its error")
def then_correlation_generated(exchange: Exchange) -> None:
    header = exchange.headers.get("x-correlation-id")
    in_error = error_field(exchange, "correlation_id")
    assert header and in_error == header, f"the header says {header}, the error says {in_error}: {exchange.describe()}"


@then("no response was 500 INTERNAL_ERROR")
def then_no_internal_error(exchanges: list[Exchange]) -> None:
    crashed = [e.describe() for e in exchanges if e.status >= 500 or e.status == 0]
    assert not crashed, f"{len(crashed)} request(s) answered with a server error or a broken connection, " \
                        f"e.g. {crashed[:3]}"


@then(parsers.parse('the error details name the field "{field}"'))
def then_details_field(exchange: Exchange, field: str) -> None:
    fields = error_details(exchange).get("fields") or {}
    assert any(key == field or key.startswith(field + "[") or key.startswith(field + ".") for key in fields), \
        f"field {field!r} not named: {fields}"


@then(parsers.parse("the error details carry {key}"))
def then_details_carry(exchange: Exchange, key: str) -> None:
    assert key in error_details(exchange), exchange.describe()


@then(parsers.parse("the response does not contain {value}"))
def then_response_lacks(exchange: Exchange, value: str) -> None:
    text = json.loads(value)
    assert text not in exchange.text and json.dumps(text)[1:-1] not in exchange.text, \
        f"the response contains {text!r}: {exchange.describe()}"


@when(parsers.re(r"a client posts (?P<count>\d+) random bodies to (?P<path>/\S+)$"), target_fixture="exchanges")
def when_post_random(sut: RunningTarget, api_token: str, count: str, path: str,
                     timing: ScenarioTiming) -> list[Exchange]:
    headers = {**bearer(api_token), "content-type": "application/json"}
    with http_client(timing.clock().patience(TIMEOUTS.request)) as client:
        return [_exchange_or_broken(client, sut.base_url + path, body, headers)
                for body in random_bodies(int(count), seed=20261122)]


def _exchange_or_broken(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> Exchange:
    """The answer, or, when the connection broke instead, an exchange without one (status 0)."""
    sent_at = time.monotonic()
    try:
        return exchange_of(client, "POST", url, body, headers)
    except httpx.TransportError as exc:
        return Exchange("POST", url, 0, {}, f"{type(exc).__name__}: {exc}".encode(), sent_at,
                        time.monotonic() - sent_at, body)


def about_the_error_event(clause: Clause) -> bool:
    """The clauses a stream's terminal error event speaks for: those that ask for it (or for an
    interruption never shown as complete), not those of the same scenario about what the stream
    carried or where the call went (nothing repeated, no retry after the first byte)."""
    return "error event" in clause.text or "interruption" in clause.text


def about_the_event_envelope(clause: Clause) -> bool:
    return about_the_envelope(clause) or "error envelope" in clause.text


@then(parsers.re(r'the stream ended with an error event(?: with code "(?P<code>[A-Z_]+)")?$'))
def then_stream_error(stream_exchange: StreamExchange, code: str | None) -> None:
    """Three checks, as for an error response: the terminal event itself, its envelope's shape,
    and its code, each for the clauses it speaks for."""
    error: dict[str, Any] = {}
    with check("a terminal error event", about_the_error_event):
        assert stream_exchange.status == 200 and stream_exchange.events, stream_exchange.describe()
        payloads = [e for e in stream_exchange.events if e.data.strip() != "[DONE]"]  # rbee may close with [DONE]
        last = payloads[-1].json() if payloads else {}
        found = last.get("error") if isinstance(last, dict) else None
        assert isinstance(found, dict) and found, f"the last event is not an error event: {stream_exchange.describe()}"
        errors = [e for e in payloads if isinstance(e.json(), dict) and "error" in e.json()]
        assert len(errors) == 1, f"the stream carried {len(errors)} error events, not one terminal one: {errors}"
        error = found
    with check("the event's envelope", about_the_event_envelope, fallback_to_all=False):
        if not error:
            raise CannotCheck("no terminal error event to read")
        missing = [k for k in ("code", "message", "details", "correlation_id") if k not in error]
        assert not missing, f"terminal error event lacks {missing}: {error}"
        assert error["code"] in vocabulary(), f"code {error['code']!r} is not in the vocabulary"
        assert isinstance(error["details"], dict) and "suggested_action" in error["details"], error
    if code is not None:
        with check(f"the code {code}", about_the_code(code), fallback_to_all=False):
            if not error:
                raise CannotCheck("no terminal error event to read")
            assert error.get("code") == code, f"expected {code}: {error}"


def about_the_delivered_text(clause: Clause) -> bool:
    return "delivered_text" in clause.text


@then("the error event reports the text delivered before it", about_the_delivered_text)
def then_error_reports_delivered(stream_exchange: StreamExchange) -> None:
    error = stream_exchange.error
    assert error is not None, stream_exchange.describe()
    assert stream_exchange.text, "nothing was delivered before the error, so the check says nothing"
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    assert details.get("delivered_text") == stream_exchange.text, \
        f"delivered {stream_exchange.text!r}, the error event says {details.get('delivered_text')!r}: {error}"


@then("no token reached the client twice")
def then_no_duplicate_tokens(stream_exchange: StreamExchange) -> None:
    pieces = stream_exchange.content_pieces
    assert pieces, stream_exchange.describe()
    assert pieces.count(pieces[0]) == 1 and stream_exchange.text.count(pieces[0]) == 1, \
        f"the stream restarted after bytes reached the client: {pieces}"


@then("the response carries a Retry-After that agrees with its error details")
def then_retry_after_agrees(exchange: Exchange) -> None:
    problems = retry_after_problems(exchange, error_details(exchange))
    assert not problems, f"{'; '.join(problems)}: {exchange.describe()}"


@then(parsers.parse("the response carries a Retry-After of {seconds:d} seconds"))
def then_retry_after_of(exchange: Exchange, seconds: int) -> None:
    """The upstream's hint, rounded up, in the header and in the details."""
    problems = retry_after_problems(exchange, error_details(exchange))
    assert not problems, f"{'; '.join(problems)}: {exchange.describe()}"
    observed = (int(exchange.headers["retry-after"]), math.ceil(error_details(exchange)["retry_after_seconds"]))
    assert observed == (seconds, seconds), \
        f"Retry-After {observed[0]} and retry_after_seconds {observed[1]}, expected {seconds}: {exchange.describe()}"


@then(parsers.parse('the stream was refused with an error envelope with code "{code}"'))
def then_stream_refused(stream_exchange: StreamExchange, code: str) -> None:
    exchange = Exchange("POST", "", stream_exchange.status, stream_exchange.headers, stream_exchange.body,
                        stream_exchange.sent_at, stream_exchange.ended_at - stream_exchange.sent_at)
    with check("an HTTP error, not a stream", about_the_code(code)):
        assert not stream_exchange.events, \
            f"got an event stream instead of an HTTP error: {stream_exchange.describe()}"
    with check("the envelope's shape", about_the_envelope, fallback_to_all=False):
        problems = envelope_problems(exchange, vocabulary())
        assert not problems, f"not a conforming error envelope: {problems}; {stream_exchange.describe()}"
    with check(f"the code {code}", about_the_code(code)):
        assert error_code(exchange) == code, f"expected code {code}: {stream_exchange.describe()}"


@then(parsers.parse("the error details say current_requests is {current:d} and max_concurrent is {limit:d}"))
def then_details_capacity(exchange: Exchange, current: int, limit: int) -> None:
    details = error_details(exchange)
    observed = (details.get("current_requests"), details.get("max_concurrent"))
    assert observed == (current, limit), \
        f"details say current_requests {observed[0]} and max_concurrent {observed[1]}, expected {current} and " \
        f"{limit}: {details}"


@when(parsers.re(r"the (?:hive|gateway) receives (?P<name>SIGTERM|SIGINT)$"))
def when_signal(sut: RunningTarget, name: str) -> None:
    if not hasattr(sut, "send_signal"):
        pytest.skip(f"{sut.name} is not a process the harness started, so it cannot be signalled")
    sut.send_signal(signal.Signals[name])


def calls_by(requests: Iterable[tuple[str, float]]) -> list[list[float]]:
    """Attempt times grouped by the call they belong to (its key: the model a download fetches,
    the message a chat carries), the calls in the order of their first attempt. Calls made at
    the same time overlap, so only what the requests carry can tell them apart."""
    grouped: dict[str, list[float]] = {}
    for key, t in sorted(requests, key=lambda r: r[1]):
        grouped.setdefault(key, []).append(t)
    return list(grouped.values())


def assert_jittered(history: History, title: str, calls: list[list[float]], expected_calls: int,
                    schedule: BackoffSchedule, timing: ScenarioTiming) -> None:
    """Every delay inside its window, and the delays before each retry varying across the calls;
    skips, saying what it needs, when a truly jittered implementation could fail it by chance
    more often than the check allows (the verdict's bound, from each retry's own tolerance).
    Each delay is judged with the stalls that held up its own two arrivals: in 20 runs, one stall
    of 113 or 163 ms at one of 30 arrivals twice left the whole check undecidable."""
    assert len(calls) == expected_calls, f"the upstream saw {len(calls)} calls, the step judges {expected_calls}"
    verdict = check_jitter(calls, schedule, Clock(timing.scale, 0.0),
                           delay_clock=lambda sent, next_sent: timing.clock(stamps=[sent, next_sent]))
    record_check(history, jitter_check(title, verdict, note=Clock(timing.scale, verdict.tolerance).note()
                                       + " at most: each delay's window has the tolerance of its own two arrivals"))
    assert verdict.ok, str(verdict)
    if verdict.undecided is not None:
        pytest.skip(f"not verified: {verdict.undecided}")


def assert_exits_within_cleanup(sut: RunningTarget, clock: Clock, history: History, title: str) -> int:
    """Measured where the implementation acts: from the signal the harness sent to the exit the
    kernel reported; the exit code, for steps that check it."""
    source = f"target:{sut.name}"
    signals = history.events(EventKind.SIGNAL_SENT, source)
    started = signals[-1].t if signals else time.monotonic()
    deadline = started + clock.deadline(TIMEOUTS.cleanup)
    code: int | None = sut.wait_exit(max(0.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
    record_check(history, process_exit_check(history, source, started, deadline, title=title, note=clock.note()))
    assert code is not None, f"{sut.name} still running after the cleanup timeout:\n{sut.log_tail()}"
    exits = [e for e in history.events(EventKind.PROCESS_EXIT, source) if e.t >= started]
    assert exits and exits[0].t <= deadline, \
        f"{sut.name} exited {exits[0].t - started if exits else float('nan'):.3f} s after the signal, allowed " \
        f"{deadline - started:.3f} s"
    decided(clock, SHUTDOWN)
    return code


@timed_then(parsers.parse("the response came before the request timeout"), UPSTREAM_TIMEOUT)
def then_before_request_timeout(exchange: Exchange, timing: ScenarioTiming, history: History) -> None:
    clock = timing.clock()
    limit = clock.deadline(TIMEOUTS.request)
    record_check(history, window_check("response time: before the request timeout", "response", exchange.elapsed,
                                       0.0, limit, note=clock.note()))
    assert exchange.elapsed <= limit, f"answered after {exchange.elapsed:.3f}s; the request timeout allows {limit:.3f}s"
    decided(clock, UPSTREAM_TIMEOUT)


@timed_then(parsers.parse("the response came at once"), AT_ONCE_ANSWER)
def then_at_once(exchange: Exchange, timing: ScenarioTiming, history: History) -> None:
    clock = timing.clock(spans=[exchange.span])
    record_check(history, window_check("answered at once", "response", exchange.elapsed, 0.0, clock.at_once,
                                       note=clock.note()))
    assert exchange.elapsed <= clock.at_once, \
        f"took {exchange.elapsed:.3f}s: it waited (at once allows {clock.at_once:.3f}s)"
    decided(clock, AT_ONCE_ANSWER)
