"""Phrases about the fake model hub: what it answers, and what it saw."""

from __future__ import annotations

import time
from contextlib import suppress

from pytest_bdd import given, parsers

from harness.fakes import Disconnect, HubModel, Reply, Transfer, script
from harness.errors import WaitTimeout
from harness.exchange import Exchange
from harness.history import History
from harness.report.recording import connections_closed_check, record_breaker_check, record_check, schedule_check
from harness.breaker_probes import last_answer, Probe
from harness.resolutions import AT_ONCE_ANSWER, CLEANUP, backoff_schedule
from harness.rigs.hive import HiveRig
from harness.jitter import JitterResolution
from harness.schedule import HIVE_BACKOFF, check_schedule
from harness.timing import ScenarioTiming
from steps.common import arrivals_between, assert_jittered, assert_probes_rejected, breaker_clock, calls_by
from steps.timed import decided, timed_then
from harness.spec_values import HIVE_MAX_ATTEMPTS, TIMEOUTS
from steps.checked import then

FOREVER = 3600.0
SERVE = Reply()  # 200 with no body: the hub serves the model it knows


def _metadata_requests(hive_rig: HiveRig) -> list[float]:
    return [r.t for r in hive_rig.hub.requests if r.path.startswith("/api/models/")]


@given(parsers.re(r"the hub answers (?P<status>\d+) (?P<count>\d+) times?, then (?P<after>serves the model|stalls)$"),
       converters={"status": int, "count": int})
def given_hub_answers(hive_rig: HiveRig, status: int, count: int, after: str) -> None:
    then_reply = SERVE if after == "serves the model" else Reply(delay_before_headers=FOREVER)
    hive_rig.script_hub(script(*[Reply(status)] * count, then=then_reply))


@given(parsers.re(r"the hub answers (?P<status>\d+) (?P<count>\d+) times, then serves the model (?P<successes>\d+) "
                  r"times, then answers (?P=status) again$"),
       converters={"status": int, "count": int, "successes": int})
def given_hub_fails_serves_fails_again(hive_rig: HiveRig, status: int, count: int, successes: int) -> None:
    hive_rig.script_hub(script(*[Reply(status)] * count, *[SERVE] * successes, then=Reply(status)))


@given(parsers.re(r"the hub stalls (?P<count>\d+) times?, then serves the model$"), converters={"count": int})
def given_hub_stalls(hive_rig: HiveRig, count: int) -> None:
    """It sends nothing, not even headers: only the hive's own attempt timeout ends the attempt."""
    hive_rig.script_hub(script(*[Reply(delay_before_headers=FOREVER)] * count, then=SERVE))


@given(parsers.parse("the hub resets the connection {count:d} times, then serves the model"))
def given_hub_resets(hive_rig: HiveRig, count: int) -> None:
    hive_rig.script_hub(script(*[Disconnect(reset=True)] * count, then=SERVE))


@given(parsers.parse("the hub always answers {status:d}"))
def given_hub_always(hive_rig: HiveRig, status: int) -> None:
    hive_rig.script_hub(script(then=Reply(status)))


@given(parsers.parse("the hub fails {first:d} downloads, succeeds once, fails {second:d} more, then serves the model"))
def given_hub_fail_succeed_fail(hive_rig: HiveRig, first: int, second: int) -> None:
    failure = Reply(503)
    replies = [failure] * (first * HIVE_MAX_ATTEMPTS) + [SERVE] + [failure] * (second * HIVE_MAX_ATTEMPTS)
    hive_rig.script_hub(script(*replies, then=SERVE))


@given(parsers.parse("the hub cuts every file transfer after {count:d} bytes"))
def given_hub_cuts_files(hive_rig: HiveRig, count: int) -> None:
    hive_rig.script_hub(script(then=Transfer(cut_after_bytes=count)), channel="file")


@then(parsers.re(r"the hub received (?P<count>\d+) metadata requests?$"), converters={"count": int})
def then_hub_received(hive_rig: HiveRig, count: int, history: History) -> None:
    seen = _metadata_requests(hive_rig)
    breaker = record_breaker_check(history, hive_rig.hub.source, seen, count,
                                   "hub breaker: metadata requests against the cooldown waited out")
    assert len(seen) == count and (breaker is None or breaker.passed), \
        f"the hub received {len(seen)} metadata request(s), expected {count}" + \
        (f"; breaker: {breaker.detail}" if breaker else "")


@timed_then(parsers.parse("every probe was rejected at once with 503 CIRCUIT_BREAKER_OPEN, and the hub saw no request"),
            AT_ONCE_ANSWER)
def then_hub_probes_rejected(hive_rig: HiveRig, breaker_probes: list[Probe], exchanges: list[Exchange],
                             timing: ScenarioTiming, history: History) -> None:
    request_times = [r.t for r in hive_rig.hub.requests]
    assert_probes_rejected(breaker_probes, exchanges, request_times,
                           breaker_clock(timing, exchanges, breaker_probes, request_times), history, "the hub")


@then(parsers.parse("the hub received {count:d} metadata requests during the {calls:d} downloads and none during the "
                    "one after them"))
def then_hub_received_during(hive_rig: HiveRig, count: int, calls: int, exchanges: list[Exchange],
                             exchange: Exchange) -> None:
    """Counted by arrival: the metadata requests that reached the hub while those downloads were
    out, and while the download after them was."""
    assert len(exchanges) == calls, f"{len(exchanges)} downloads were made, not {calls}"
    times = _metadata_requests(hive_rig)
    during = arrivals_between(times, min(e.sent_at for e in exchanges), last_answer(exchanges))
    after = arrivals_between(times, exchange.sent_at, exchange.answered_at)
    assert (len(during), len(after)) == (count, 0), \
        (f"the hub received {len(during)} metadata request(s) during the {calls} downloads (expected {count}) and "
         f"{len(after)} during the download after them (expected none)")


@timed_then(parsers.parse("the gaps between the requests to the hub follow the hive backoff schedule"),
            backoff_schedule(HIVE_BACKOFF))
def then_hub_schedule(hive_rig: HiveRig, timing: ScenarioTiming, history: History) -> None:
    times = _metadata_requests(hive_rig)
    clock = timing.clock(stamps=times)
    verdict = check_schedule(times, HIVE_BACKOFF, clock)
    record_check(history, schedule_check("hive backoff schedule at the hub", times, verdict,
                                         allowed_attempts=HIVE_BACKOFF.max_attempts, note=clock.note()))
    assert verdict.ok, f"hub retry schedule broken: {verdict}; delays {[round(d, 4) for d in verdict.delays]}"
    decided(clock, backoff_schedule(HIVE_BACKOFF))


@timed_then(parsers.parse("the gaps between the requests to the hub are jittered across the {calls:d} downloads"),
            lambda arguments: JitterResolution(HIVE_BACKOFF, int(arguments["calls"])))
def then_hub_jittered(hive_rig: HiveRig, calls: int, timing: ScenarioTiming, history: History) -> None:
    """Each download fetches its own model, so the metadata path tells its attempts apart."""
    requests = [(r.path, r.t) for r in hive_rig.hub.requests if r.path.startswith("/api/models/")]
    assert_jittered(history, f"jitter of the retries to the hub across {calls} downloads", calls_by(requests),
                    calls, HIVE_BACKOFF, timing)


@timed_then(parsers.parse("the hive holds no connection to the hub"), CLEANUP)
def then_no_hub_connection(hive_rig: HiveRig, history: History, timing: ScenarioTiming) -> None:
    clock = timing.clock()
    timeout, started = clock.deadline(TIMEOUTS.cleanup), time.monotonic()
    with suppress(WaitTimeout):  # judged below from the recorded closes, which the picture shows
        hive_rig.hub.wait_for_open_connections(0, timeout=timeout)
    check = connections_closed_check(history, hive_rig.hub.source, started, started + timeout,
                                     title="connections to the hub closed within the cleanup timeout",
                                     note=clock.note())
    record_check(history, check)
    assert check.passed, f"{check.title}: {check.detail}"
    decided(clock, CLEANUP)


@then(parsers.parse('every request the hub received carried the correlation id "{cid}"'))
def then_hub_correlation(hive_rig: HiveRig, cid: str) -> None:
    carried = [r.headers.get("x-correlation-id") for r in hive_rig.hub.requests]
    assert carried and all(c == cid for c in carried), \
        f"the hub received requests without the correlation id {cid!r}: {carried}"


@given(parsers.re(r'the hub (?:also )?offers model "(?P<repo>[^"]+)" needing (?P<vram>\d+) MiB of VRAM$'),
       converters={"vram": int})
def given_hub_offers(hive_rig: HiveRig, repo: str, vram: int) -> None:
    hive_rig.offer(HubModel(repo, size_bytes=128 * 1024, required_vram_mib=vram))


@given(parsers.re(r'the hub also offers models "(?P<stem>[^"]+)-1" to "(?P=stem)-(?P<count>\d+)"$'),
       converters={"count": int})
def given_hub_offers_numbered(hive_rig: HiveRig, stem: str, count: int) -> None:
    for n in range(1, count + 1):
        hive_rig.offer(HubModel(f"{stem}-{n}", size_bytes=128 * 1024, required_vram_mib=2048))
