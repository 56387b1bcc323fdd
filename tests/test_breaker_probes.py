"""Probes of an open breaker against crafted answers: the Retry-After countdown bounds, when the
late probe goes and whether it can still tell, and the rejection check; ones that fit, ones that
must fail, and ones that cannot decide and so are not verified, never passed."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from harness.breaker_probes import (RIGHT_AFTER_OPENING, SHORTLY_BEFORE_THE_END, Probe, cooldown_left,
                                    late_probe_at, opened_cooldown, within_cooldown)
from harness.exchange import Exchange
from harness.history import History
from harness.report.recording import ProbeCall, breaker_check, recorded_checks
from harness.timing import Clock, ScenarioTiming
from steps.common import assert_probes_rejected, probe_shortly_before_the_end, then_probes_retry_after

SCALE, TOL = 0.05, 0.02                 # a scale at which whole seconds (and "at once") are decidable
COARSE = 0.025                          # too coarse for whole seconds at this tolerance
OPENED = 100.0                          # the upstream's last request of the call that opened the breaker
OPENING_ANSWERED = 100.01               # the client's receipt of that call's answer
UPSTREAM = "provider \"primary\""


def rejection(sent_at: float, retry_after: str | None, detail: float | None = None, elapsed: float = 0.01,
              status: int = 503, code: str = "CIRCUIT_BREAKER_OPEN") -> Exchange:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    details: dict[str, object] = {"suggested_action": "Retry later"}
    if detail is not None or retry_after is not None:
        details["retry_after_seconds"] = detail if detail is not None else int(retry_after or 0)
    body = json.dumps({"error": {"code": code, "message": "open", "details": details, "correlation_id": "c"}})
    return Exchange("POST", "http://127.0.0.1:1/x", status, headers, body.encode(), sent_at, elapsed)


OPENING_CALL = Exchange("POST", "http://127.0.0.1:1/x", 503, {}, b"{}", 99.99, OPENING_ANSWERED - 99.99)


def early(retry_after: str | None = "60", **kwargs: object) -> Probe:
    return Probe(RIGHT_AFTER_OPENING, rejection(OPENING_ANSWERED + 0.005, retry_after, **kwargs))  # type: ignore[arg-type]


def late(retry_after: str | None = "5", scale: float = SCALE, delay: float = 0.0, **kwargs: object) -> Probe:
    """Sent when the harness plans it (55 spec s after the opening), or `delay` real seconds later."""
    sent = OPENED + 55.0 * scale + delay
    return Probe(SHORTLY_BEFORE_THE_END, rejection(sent, retry_after, **kwargs))  # type: ignore[arg-type]


def check_retry_after(*probes: Probe, scale: float = SCALE) -> None:
    then_probes_retry_after(list(probes), [OPENING_CALL], [OPENED], ScenarioTiming(scale, lambda: TOL))


def check_rejected(*probes: Probe, requests: tuple[float, ...] = (), scale: float = SCALE,
                   history: History | None = None) -> None:
    assert_probes_rejected(list(probes), [OPENING_CALL], [OPENED - 0.5, OPENED, *requests], Clock(scale, TOL),
                           History() if history is None else history, UPSTREAM)


# -- the Retry-After counts down the cooldown left ---------------------------------------------

def test_the_countdown_bounds_follow_the_probe() -> None:
    cooldown = opened_cooldown([OPENED - 0.5, OPENED], OPENING_ANSWERED, Clock(SCALE, TOL))
    right_after = cooldown_left(cooldown, early().exchange, Clock(SCALE, TOL))
    before_the_end = cooldown_left(cooldown, late().exchange, Clock(SCALE, TOL))
    assert (right_after.low, right_after.high) == (59, 60)
    assert (before_the_end.low, before_the_end.high) == (4, 6)   # 55 s passed, give or take the tolerance


@pytest.mark.parametrize(("right_after", "before_the_end"), [("60", "5"), ("59", "4"), ("60", "6")])
def test_a_retry_after_that_counts_down_passes(right_after: str, before_the_end: str) -> None:
    check_retry_after(early(right_after), late(before_the_end))


def test_a_constant_retry_after_fails_on_the_late_probe() -> None:
    with pytest.raises(AssertionError, match=r"the probe shortly before its cooldown ends carried Retry-After 60, "
                                             r"but .* allowed 4 to 6") as failure:
        check_retry_after(early("60"), late("60"))
    assert "right after it opened" not in str(failure.value)


@pytest.mark.parametrize("value", ["58", "61", "1"])
def test_a_value_far_from_the_cooldown_left_right_after_opening_fails(value: str) -> None:
    with pytest.raises(AssertionError, match=f"the probe right after it opened carried Retry-After {value}, but"):
        check_retry_after(early(value), late("5"))


@pytest.mark.parametrize("value", [None, "0", "soon"])
def test_a_missing_or_unusable_header_fails(value: str | None) -> None:
    with pytest.raises(AssertionError, match="no usable Retry-After"):
        check_retry_after(early(value, detail=60), late("5"))


def test_the_detail_must_give_the_header_rounded_up() -> None:
    check_retry_after(early("60", detail=59.62), late("5", detail=4.25))   # fractional, as the header rounds it
    with pytest.raises(AssertionError, match=r"retry_after_seconds 60, which does not give its Retry-After 5"):
        check_retry_after(early("60"), late("5", detail=60))


def test_a_fitting_countdown_at_a_scale_too_coarse_for_whole_seconds_is_not_verified() -> None:
    with pytest.raises(pytest.skip.Exception, match="not verified: a Retry-After in whole seconds cannot be decided"):
        check_retry_after(early("60"), late("5", scale=COARSE), scale=COARSE)


def test_a_constant_retry_after_still_fails_at_a_coarse_scale() -> None:
    with pytest.raises(AssertionError, match="carried Retry-After 60"):
        check_retry_after(early("60"), late("60", scale=COARSE), scale=COARSE)


# -- the late probe: when it goes, and whether it can still tell ------------------------------

def test_the_late_probe_goes_five_spec_seconds_before_the_earliest_end() -> None:
    clock = Clock(SCALE, TOL)
    cooldown = opened_cooldown([OPENED], OPENING_ANSWERED, clock)
    assert late_probe_at(cooldown, clock) == pytest.approx(OPENED + 55 * SCALE)   # from the request, not the answer
    assert within_cooldown(late(), cooldown, clock)
    assert not within_cooldown(late(delay=0.2), cooldown, clock)  # 3.2 s late: an answer at once may be past the end


def test_the_probe_leaves_when_planned() -> None:
    scale = 0.002                                     # a 120 ms cooldown; the probe goes 110 ms after the opening
    clock, opened = Clock(scale, 0.0005), time.monotonic()
    opening = Exchange("POST", "http://127.0.0.1:1/x", 503, {}, b"{}", opened, 0.001)
    probes: list[Probe] = []

    def call(client: httpx.Client) -> Exchange:
        return rejection(time.monotonic(), "1")

    probe_shortly_before_the_end(call, [opened], [opening], probes, clock, UPSTREAM)
    [probe] = probes
    assert probe.label == SHORTLY_BEFORE_THE_END
    assert probe.exchange.sent_at >= opened + 55 * scale


def test_a_late_probe_at_a_scale_too_coarse_for_the_cooldowns_last_seconds_is_not_verified() -> None:
    clock, opened = Clock(0.002, 0.02), time.monotonic()     # the tolerance is 10 spec s: more than the 5 s margin
    opening = Exchange("POST", "http://127.0.0.1:1/x", 503, {}, b"{}", opened, 0.001)
    with pytest.raises(pytest.skip.Exception, match="not verified: the last 5 s of the 60 s breaker cooldown"):
        probe_shortly_before_the_end(lambda client: rejection(time.monotonic(), "1"), [opened], [opening], [], clock,
                                     UPSTREAM)


# -- rejected at once, and the upstream sees nothing --------------------------------------------

def test_probes_rejected_at_once_without_reaching_the_upstream_pass() -> None:
    history = History()
    check_rejected(early(), late(), history=history)
    [picture] = recorded_checks(history.events())
    assert picture["passed"]
    assert [lane["label"] for lane in picture["lanes"]] == [
        "before it opened", "during the cooldown", "probe right after it opened: answered",
        "probe shortly before its cooldown ends: answered"]


def test_a_probe_that_waited_fails_as_not_at_once() -> None:
    with pytest.raises(AssertionError, match=r"the probe right after it opened was answered after 1\.600 s, not at "
                                             r"once \(allowed 0\.070 s\)"):
        check_rejected(early(elapsed=1.6), late())


def test_a_late_probe_let_through_fails_as_not_rejected_and_reaching_the_upstream() -> None:
    trial = late(status=503, code="SERVICE_UNAVAILABLE", elapsed=0.05)
    reached = (trial.exchange.sent_at + 0.01, trial.exchange.sent_at + 0.02)
    with pytest.raises(AssertionError, match=r"the probe shortly before its cooldown ends was not rejected by the open "
                                             r"breaker.*the probe shortly before its cooldown ends reached provider "
                                             r"\"primary\": 2 request\(s\) while the breaker was open"):
        check_rejected(early(), trial, requests=reached)


def test_a_request_during_the_cooldown_while_no_probe_was_out_fails() -> None:
    with pytest.raises(AssertionError, match=r"received 1 request\(s\) during the cooldown while no probe was out"):
        check_rejected(early(), late(), requests=(OPENED + 1.0,))


def test_a_probe_sent_too_late_to_tell_is_not_verified_but_a_request_during_the_cooldown_still_fails() -> None:
    too_late = late(delay=0.2, status=503, code="SERVICE_UNAVAILABLE", elapsed=0.05)
    with pytest.raises(pytest.skip.Exception, match="not verified: the probe shortly before its cooldown ends was "
                                                    "sent only"):
        check_rejected(early(), too_late, requests=(OPENED + 3.0,))  # after the earliest end: a legitimate trial
    with pytest.raises(AssertionError, match="reached"):
        check_rejected(early(), too_late, requests=(OPENED + 2.97,))  # before it: the breaker was surely open


def test_probes_that_fit_at_a_scale_too_coarse_for_at_once_are_not_verified() -> None:
    with pytest.raises(pytest.skip.Exception, match="not verified: an answer at once .* cannot be decided"):
        check_rejected(early(), late(scale=COARSE), scale=COARSE)


def test_a_waiting_probe_still_fails_at_a_coarse_scale() -> None:
    with pytest.raises(AssertionError, match="not at once"):
        check_rejected(early(elapsed=1.6), late(scale=COARSE), scale=COARSE)


def test_the_breaker_picture_marks_a_probe_answered_late() -> None:
    cooldown = opened_cooldown([OPENED], OPENING_ANSWERED, Clock(SCALE, TOL))
    check = breaker_check("probes", [OPENED - 0.5, OPENED], cooldown, 2, OPENED + 2.8,
                          [ProbeCall(RIGHT_AFTER_OPENING, 100.02, 101.62, 0.07)])
    assert not check.passed and "the probe right after it opened answered after 1.600 s, not at once" in check.detail
    [probe_lane] = [lane for lane in check.lanes if lane.label.startswith("probe")]
    assert probe_lane.verdict(probe_lane.marks[0]) == "outside"
    assert "after it (no trial expected)" not in [lane.label for lane in check.lanes]
