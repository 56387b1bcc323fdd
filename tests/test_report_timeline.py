"""Timed checks as the report draws them: windows from the schedule checker, marks inside or
outside, and the SVG that shows both."""

from __future__ import annotations

import time

import pytest

from harness.report.model import Lane, Span, TimedCheck
from harness.report.recording import (arrivals_check, breaker_check, connections_closed_check, jitter_check,
                                      process_exit_check, record_breaker_check, record_check, record_cooldown,
                                      recorded_checks, recorded_cooldowns, schedule_check, window_check)
from harness.report.timeline import nice_step, render_svg
from harness.history import EventKind, History
from harness.timing import Clock
from harness.jitter import check_jitter
from harness.schedule import GATEWAY_BACKOFF, HIVE_BACKOFF, check_schedule
from harness.wait import Cooldown
from tests.report_pages import parse

SCALE, TOL = 0.1, 0.02


def attempts(*delays: float, start: float = 100.0) -> list[float]:
    """Attempt times, real seconds, from spec-second delays."""
    times = [start]
    for delay in delays:
        times.append(times[-1] + delay * SCALE)
    return times


def marks(svg: str) -> list[str]:
    return [g.attrs["data-verdict"] for g in parse(svg).find_all("g", class_="mark")]


def test_a_mark_inside_its_window_and_one_outside_are_told_apart() -> None:
    check = TimedCheck("t", (Lane("early", (0.5,), (Span(1.0, 2.0),)), Lane("on time", (1.5,), (Span(1.0, 2.0),))),
                       passed=False)
    svg = parse(render_svg(check))
    assert marks(render_svg(check)) == ["outside", "inside"]
    assert len(svg.find_all("rect", class_="window")) == 2
    [outside] = svg.find_all("g", data_verdict="outside")
    assert "early at 0.5 s: OUTSIDE" in outside.all_text()


def test_marks_are_placed_in_proportion_to_their_time() -> None:
    check = TimedCheck("t", (Lane("a", (0.0, 1.0, 2.0), constrained=False),), passed=True)
    xs = [float(c.attrs["cx"]) for c in parse(render_svg(check)).find_all("circle")]
    assert xs[0] < xs[1] < xs[2]
    assert xs[2] - xs[1] == pytest.approx(xs[1] - xs[0], abs=0.2)


def test_an_unconstrained_lane_draws_free_marks_and_a_constrained_lane_without_windows_outside_ones() -> None:
    check = TimedCheck("t", (Lane("first", (0.0,), constrained=False), Lane("extra", (3.0,))), passed=False)
    assert marks(render_svg(check)) == ["free", "outside"]


def test_labels_are_escaped_so_the_svg_stays_well_formed() -> None:
    svg = render_svg(TimedCheck('<script>alert("x")</script>', (Lane("<b>lane</b>", (1.0,), constrained=False),),
                                passed=True))
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;b&gt;lane&lt;/b&gt;" in svg


@pytest.mark.parametrize(("span", "step"), [(1.0, 0.2), (2.9, 0.5), (3.1, 1.0), (0.05, 0.01), (60.0, 10.0)])
def test_axis_ticks_use_a_one_two_five_step(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_a_schedule_that_holds_puts_every_retry_inside_its_window() -> None:
    times = attempts(1.0, 2.0, 4.0, 8.0, 16.0)
    verdict = check_schedule(times, GATEWAY_BACKOFF, Clock(SCALE, TOL))
    check = schedule_check("gateway", times, verdict, allowed_attempts=GATEWAY_BACKOFF.max_attempts)
    assert check.passed
    assert [lane.label for lane in check.lanes] == [f"attempt {n}" for n in range(1, 7)]
    assert marks(render_svg(check)) == ["free"] + ["inside"] * 5
    retry_3 = check.lanes[3].windows[0]  # anchored at attempt 3, 0.3 s after the first
    assert (retry_3.low, retry_3.high) == pytest.approx((0.3 + 0.4 * 0.9 - TOL, 0.3 + 0.4 * 1.1 + TOL))


def test_a_retry_that_came_too_early_is_drawn_outside_its_window() -> None:
    times = attempts(1.2, 0.5, 4.2)
    verdict = check_schedule(times, HIVE_BACKOFF, Clock(SCALE, TOL))
    check = schedule_check("hive", times, verdict, allowed_attempts=HIVE_BACKOFF.max_attempts)
    assert not check.passed and "attempt 3 came too early" in check.detail
    assert marks(render_svg(check)) == ["free", "inside", "outside", "inside"]


def test_an_attempt_beyond_the_allowed_count_has_no_window() -> None:
    times = attempts(1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    verdict = check_schedule(times, GATEWAY_BACKOFF, Clock(SCALE, TOL))
    check = schedule_check("gateway", times, verdict, allowed_attempts=GATEWAY_BACKOFF.max_attempts)
    assert not check.passed
    assert check.lanes[-1].label == "attempt 7" and check.lanes[-1].windows == ()
    assert marks(render_svg(check))[-1] == "outside"


def test_a_single_gap_is_labelled_with_the_request_numbers_it_spans() -> None:
    times = attempts(5.0)
    verdict = check_schedule(times, GATEWAY_BACKOFF, Clock(SCALE, TOL))
    check = schedule_check("gap", times, verdict, allowed_attempts=6, first_attempt=3)
    assert [lane.label for lane in check.lanes] == ["attempt 3", "attempt 4"]


@pytest.mark.parametrize(("observed", "passed"), [(2.6, True), (2.4, False), (3.1, False)])
def test_a_window_check_passes_only_inside_its_window(observed: float, passed: bool) -> None:
    check = window_check("timeout", "response", observed, 2.5, 3.0)
    assert check.passed is passed
    assert marks(render_svg(check)) == ["inside" if passed else "outside"]


def test_a_recorded_check_survives_the_trip_through_history_and_json() -> None:
    check = window_check("timeout", "response", 2.6, 2.5, 3.0, note="scale 0.1")
    history = History()
    record_check(history, check)
    history.record(EventKind.NOTE, "elsewhere", check={"not": "a timed check"})
    [data] = recorded_checks(history.events())
    assert TimedCheck.from_data(data) == check


def test_arrivals_give_one_unconstrained_lane_per_fake() -> None:
    history = History()
    for source in ("provider:a", "provider:b", "provider:a"):
        history.record(EventKind.REQUEST, source)
    history.record(EventKind.RESPONSE, "provider:a")
    check = arrivals_check(history.events())
    assert check is not None
    assert [(lane.label, len(lane.marks), lane.constrained) for lane in check.lanes] == \
        [("provider:a", 2, False), ("provider:b", 1, False)]
    assert arrivals_check([]) is None


COOLDOWN = Cooldown(opened_at=103.0, seconds=1.5, tolerance=TOL)  # requests at 100..103, cooldown to 104.5


def breaker(times: list[float], expected: int, now: float = 106.0) -> TimedCheck:
    return breaker_check("breaker", times, COOLDOWN, expected, now)


def test_a_breaker_that_kept_its_cooldown_and_let_one_trial_through_passes() -> None:
    check = breaker([100.0, 101.0, 103.0, 104.6], expected=4)
    assert check.passed, check.detail
    assert [lane.label for lane in check.lanes] == ["before it opened", "during the cooldown", "the trial, after it"]
    assert marks(render_svg(check)) == ["free"] * 3 + ["inside"]
    [cooldown] = check.lanes[1].blocked
    assert (cooldown.low, cooldown.high) == pytest.approx((3.0, 4.5 - TOL))
    assert check.lanes[2].windows[0].low == pytest.approx(4.5 - TOL) and check.lanes[2].windows[0].high == 6.0


def test_a_request_during_the_cooldown_is_drawn_inside_the_blocked_span_as_a_violation() -> None:
    check = breaker([100.0, 103.0, 103.8, 104.6], expected=3)
    assert not check.passed and "1 request(s) during the cooldown" in check.detail
    svg = parse(render_svg(check))
    assert marks(render_svg(check)) == ["free", "free", "outside", "inside"]
    assert len(svg.find_all("rect", class_="blocked")) == 1


def test_a_trial_that_never_came_is_drawn_missing_where_the_cooldown_ends() -> None:
    check = breaker([100.0, 103.0], expected=3)
    assert not check.passed and "never arrived" in check.detail
    [missing] = parse(render_svg(check)).find_all("g", data_verdict="missing")
    assert float(missing.attrs["data-t"]) == pytest.approx(4.5 - TOL)
    assert "NEVER OBSERVED" in missing.all_text()


def test_a_request_beyond_the_one_trial_gets_a_lane_with_no_window() -> None:
    check = breaker([100.0, 103.0, 104.6, 104.7], expected=3)
    assert not check.passed and "1 request(s) beyond the one trial" in check.detail
    assert check.lanes[-1].label == "beyond the one trial" and check.lanes[-1].windows == ()
    assert marks(render_svg(check))[-2:] == ["inside", "outside"]


def test_the_breaker_check_reads_the_cooldown_the_harness_recorded_for_that_upstream_only() -> None:
    history = History()
    assert record_breaker_check(history, "provider:primary", [100.0], 1, "breaker") is None
    record_cooldown(history, "provider:other", COOLDOWN)
    assert record_breaker_check(history, "provider:primary", [100.0], 1, "breaker") is None
    record_cooldown(history, "provider:primary", COOLDOWN)
    assert recorded_cooldowns(history.events(), "provider:primary") == [COOLDOWN]
    check = record_breaker_check(history, "provider:primary", [100.0, 103.0], 3, "breaker")
    assert check is not None and not check.passed
    [data] = recorded_checks(history.events())
    assert TimedCheck.from_data(data) == check


def test_jitter_draws_each_retrys_delays_against_their_window_and_their_spread_against_two_tolerances() -> None:
    calls = [attempts(1.05, 2.3, 4.2), attempts(1.5, 2.9, 4.35), attempts(1.9, 2.1, 4.3)]
    verdict = check_jitter(calls, HIVE_BACKOFF, Clock(SCALE, TOL), target=1.0)   # three retries only: made to judge
    check = jitter_check("jitter", verdict)
    assert check.passed
    assert [lane.label for lane in check.lanes] == ["retry 1: delays − 0.1 s", "retry 1: spread",
                                                   "retry 2: delays − 0.2 s", "retry 2: spread",
                                                   "retry 3: delays − 0.4 s", "retry 3: spread (chance)"]
    assert check.lanes[0].marks == pytest.approx((0.005, 0.05, 0.09))
    window = check.lanes[0].windows[0]
    assert (window.low, window.high) == pytest.approx((-TOL, 0.1 + TOL))
    assert check.lanes[1].marks == pytest.approx((0.085,))
    assert (check.lanes[1].windows[0].low, check.lanes[1].blocked[0].high) == pytest.approx((2 * TOL, 2 * TOL))
    assert check.lanes[5].marks == pytest.approx((0.015,))     # within two tolerances, but others vary: grey
    assert marks(render_svg(check)) == ["inside"] * 4 + ["inside"] * 4 + ["inside"] * 3 + ["free"]


def test_no_jitter_across_calls_draws_the_spreads_within_two_tolerances_as_failures_and_a_stalled_one_excused() -> None:
    flat = attempts(1.0, 2.0, 4.0, 8.0, 16.0)
    stalled = attempts(1.0, 2.0, 4.5, 8.0, 16.0)            # 50 ms late before retry 3: beyond 2 x TOL
    verdict = check_jitter([flat, stalled, flat, flat, flat, flat], HIVE_BACKOFF, Clock(SCALE, TOL))
    check = jitter_check("jitter", verdict)
    assert not check.passed and "no jitter across calls" in check.detail
    assert check.lanes[5].label == "retry 3: spread (excused)"
    assert [marks(render_svg(check))[7 * i + 6] for i in range(5)] == ["outside", "outside", "free", "outside",
                                                                       "outside"]


def test_a_retry_too_narrow_to_show_jitter_draws_its_spread_unconstrained() -> None:
    # both retries' jitter ranges (20 and 40 ms) are no wider than two tolerances
    calls = [attempts(1.0, 2.0), attempts(1.05, 2.1)]
    verdict = check_jitter(calls, GATEWAY_BACKOFF, Clock(SCALE, TOL))
    check = jitter_check("jitter", verdict)
    assert verdict.undecided is not None and check.passed and "not judged" in check.detail
    assert [(lane.label, lane.constrained) for lane in check.lanes] == \
        [("retry 1: delays − 0.09 s", True), ("retry 1: spread (narrow)", False),
         ("retry 2: delays − 0.18 s", True), ("retry 2: spread (narrow)", False)]


def test_a_connection_closed_before_the_deadline_passes_and_one_left_open_is_missing() -> None:
    history = History()
    history.record(EventKind.CONNECTION_OPEN, "provider:primary", connection=1)
    history.record(EventKind.REQUEST, "provider:primary")
    started = time.monotonic()
    left_open = connections_closed_check(history, "provider:primary", started, started + 0.5, title="close")
    assert not left_open.passed and "never observed" in left_open.detail
    assert marks(render_svg(left_open)) == ["free", "missing"]
    history.record(EventKind.CONNECTION_CLOSE, "provider:primary", connection=1)
    closed = connections_closed_check(history, "provider:primary", started, started + 0.5, title="close")
    assert closed.passed and closed.lanes[0].label == "its last request"
    assert marks(render_svg(closed)) == ["free", "inside"]


def test_a_process_exit_is_measured_from_the_signal_the_harness_sent() -> None:
    history = History()
    history.record(EventKind.PROCESS_EXIT, "target:hive", exit_code=1)  # an earlier life: not this exit
    signal_sent = history.record(EventKind.SIGNAL_SENT, "target:hive", signal="SIGTERM")
    exited = history.record(EventKind.PROCESS_EXIT, "target:hive", exit_code=0)
    check = process_exit_check(history, "target:hive", signal_sent.t, signal_sent.t + 1.0, title="exit")
    assert check.passed and check.lanes[0].label == "SIGTERM sent"
    assert check.lanes[1].marks == pytest.approx((exited.t - signal_sent.t,))
    late = process_exit_check(history, "target:hive", signal_sent.t, exited.t - 1e-6, title="exit")
    assert not late.passed and marks(render_svg(late)) == ["free", "outside"]


def test_blocked_spans_and_missing_marks_survive_the_trip_through_json() -> None:
    check = breaker([100.0, 103.0, 103.5], expected=3)
    assert TimedCheck.from_data(check.to_data()) == check
    old = {"title": "t", "passed": True, "lanes": [{"label": "a", "marks": [1.0], "constrained": True,
                                                    "windows": [[0.0, 2.0, "w"]]}]}
    assert TimedCheck.from_data(old).lanes[0].blocked == ()  # records without them still read
