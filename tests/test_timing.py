"""Windows, decidability and scale choice (harness.timing), the phrases that declare them, and a
scan proving the steps add no fixed real-time slack to any window."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.background import in_background
from harness.calibration import FLOOR, LOOP_LOOKBACK, LoopLateness, ToleranceMonitor, from_samples
from harness.portal import BackgroundLoop
from harness.plugin import PROJECT_ROOT
from harness.spec_values import TIMEOUTS
from harness.resolutions import (AT_ONCE_ANSWER, CLEANUP, CLEANUP_TIMEOUT, CLEANUP_WORK_FLOOR, RETRY_AFTER_SECONDS,
                                 SHUTDOWN, SHUTDOWN_WORK_FLOOR, UPSTREAM_TIMEOUT, backoff_schedule)
from harness.schedule import HIVE_BACKOFF
from harness.wait import wait_until
from harness.timing import (DECISION_FRACTION, SCALE_MARGIN, Clock, Distinction, ScenarioTiming, Undecidable,
                            choose_scale, resolutions_of)

from catalogue import catalogue
from steps.timed import about_the_cleanup_timeout
import steps.test_gateway  # noqa: F401  (registers the gateway's timed phrases)
import steps.test_hive  # noqa: F401  (registers the hive's timed phrases)


def test_a_window_is_the_spec_bound_times_the_scale_widened_by_the_tolerance_and_nothing_else() -> None:
    clock = Clock(scale=0.1, tolerance=0.02)
    window = clock.window(25.0, 25.0)
    assert window.low == pytest.approx(2.48) and window.high == pytest.approx(2.52)
    assert clock.deadline(5.0) == pytest.approx(0.52)
    assert clock.at_once == pytest.approx(0.12)
    assert clock.window(0.0, 1.0).low == 0.0   # never below zero


def test_patience_is_generous_but_never_a_window() -> None:
    clock = Clock(scale=0.025, tolerance=0.02)
    assert clock.patience(30.0) >= 2 * clock.real(30.0) and clock.patience(30.0) >= 5.0


@pytest.mark.parametrize(("scale", "decides"), [(0.04, True), (0.039, False), (1.0, True)])
def test_a_check_decides_only_when_the_widening_is_at_most_half_its_distinction(scale: float, decides: bool) -> None:
    clock = Clock(scale=scale, tolerance=0.02)
    assert clock.decides(RETRY_AFTER_SECONDS) is decides
    if decides:
        clock.require(RETRY_AFTER_SECONDS)
    else:
        with pytest.raises(Undecidable, match=r"a Retry-After in whole seconds cannot be decided at time scale "
                                              r"0\.039 .* it needs time scale 0\.04 or more"):
            clock.require(RETRY_AFTER_SECONDS)


def test_the_distinctions_come_from_the_clauses_numbers() -> None:
    assert UPSTREAM_TIMEOUT.seconds == 5.0 and CLEANUP_TIMEOUT.seconds == 5.0 and AT_ONCE_ANSWER.seconds == 1.0
    assert backoff_schedule(HIVE_BACKOFF).seconds == pytest.approx(1.6)    # 10 % of the 16 s delay
    assert Distinction(2.0, "x").needed_scale(0.02) == pytest.approx(0.02 / (DECISION_FRACTION * 2.0))


def test_the_scale_is_the_targets_unless_a_check_needs_more_and_never_above_real_time() -> None:
    coarse = [CLEANUP_TIMEOUT]                       # needs 0.02 * 2 / 2.5 = 0.016
    assert choose_scale(0.025, coarse, 0.02) == 0.025
    fine = [CLEANUP_TIMEOUT, RETRY_AFTER_SECONDS]    # needs 0.02 * 2 / 0.5 = 0.08
    assert choose_scale(0.025, fine, 0.02) == pytest.approx(0.02 * SCALE_MARGIN / 0.5)
    assert Clock(choose_scale(0.025, fine, 0.02), 0.02 * SCALE_MARGIN).decides(RETRY_AFTER_SECONDS)
    assert choose_scale(0.1, [Distinction(0.001, "x")], 0.02) == 1.0
    assert choose_scale(0.1, [], 0.5) == 0.1


def test_timed_phrases_declare_what_their_checks_resolve() -> None:
    found = resolutions_of(["the hive exits within the cleanup timeout",
                            'the gap before request 2 to provider "primary" was about 3 seconds',
                            "the response status is 200"])
    assert [r.what for r in found] == [SHUTDOWN.what, "10 % of a 3 s Retry-After"]


def test_a_bound_spent_working_is_judged_only_where_it_is_long_enough_in_real_time() -> None:
    """Stopping processes costs real time no scale shrinks: at 0.1 the 5 s cleanup timeout is half
    a real second, which a loaded machine's process teardown can exceed, so the check asks for the
    scale that makes it 2 real seconds, and a tolerance too coarse still raises it further."""
    assert SHUTDOWN.needed_scale(0.001) == pytest.approx(SHUTDOWN_WORK_FLOOR / 5.0)
    assert SHUTDOWN.needed_scale(2.0) == CLEANUP_TIMEOUT.needed_scale(2.0) > SHUTDOWN_WORK_FLOOR / 5.0
    assert CLEANUP.needed_scale(0.001) == pytest.approx(CLEANUP_WORK_FLOOR / 5.0)
    with pytest.raises(Undecidable, match="needs time scale 0.4 or more"):
        Clock(0.1, 0.001).require(SHUTDOWN)
    Clock(0.4, 0.02).require(SHUTDOWN)
    assert choose_scale(0.1, [SHUTDOWN], 0.02) == 0.4


def test_each_check_reads_the_tolerance_when_it_judges_and_reports_it() -> None:
    readings = iter([0.02, 0.03])
    used: list[float] = []
    timing = ScenarioTiming(0.1, lambda: next(readings), used.append)
    assert (timing.clock().tolerance, timing.clock().tolerance) == (0.02, 0.03)
    assert used == [0.02, 0.03]


def test_the_tolerance_is_a_high_percentile_of_the_noise_times_six_never_below_the_floor() -> None:
    quiet = from_samples([(0.0001, 0.00002)] * 50)
    assert quiet.tolerance == FLOOR
    busy = from_samples([(0.001, 0.0001)] * 90 + [(0.008, 0.001)] * 10)
    assert busy.tolerance == pytest.approx(6 * (0.008 + 0.001), rel=0.2)


def test_the_monitor_keeps_measuring_while_the_run_goes_on() -> None:
    with ToleranceMonitor(every=0.01, keep=30) as monitor:
        wait_until(lambda: monitor.taken >= 3, timeout=5.0, what="three background samples")
        assert monitor.current().tolerance >= FLOOR


STALL = 0.3   # seconds a test holds its event loop up: far beyond what a loaded machine adds by itself
SEEN = 0.2    # what a probe must see of it


@contextmanager
def probed_loop(every: float, samples: int) -> Iterator[tuple[BackgroundLoop, LoopLateness]]:
    """An event loop with a lateness probe on it that has taken `samples` samples."""
    probe = LoopLateness(every=every)
    with BackgroundLoop() as loop:
        task = loop.portal.start_task_soon(probe.run)
        try:
            wait_until(lambda: probe.taken >= samples, timeout=10.0, what=f"{samples} loop samples")
            yield loop, probe
        finally:
            task.cancel()


def hold_up(loop: BackgroundLoop, probe: LoopLateness, seconds: float) -> None:
    """Keeps the loop's thread busy for `seconds` (no timer runs), then waits for the held-up timer and one more."""
    loop.run_sync(time.sleep, seconds)
    fired = probe.taken
    wait_until(lambda: probe.taken >= fired + 2, timeout=5.0, what="the held-up timer and one after it")


def test_a_held_up_event_loop_widens_the_tolerance_of_checks_judging_since_then() -> None:
    """A fake stamps arrivals on the event loop: a loop held up 0.3 s stamps up to 0.3 s late, and
    the tolerance of a check judging that span says so; a check judging only what came after does not."""
    with probed_loop(0.005, 3) as (loop, probe):
        before = time.monotonic()
        hold_up(loop, probe, STALL)
        assert probe.worst_since(before) >= SEEN
        quiet = from_samples([(0.0001, 0.00002)] * 50, probe.worst_since(before))
        assert quiet.tolerance >= FLOOR + SEEN
        assert probe.worst_since(time.monotonic()) < SEEN   # later spans judge without it


def test_a_scenario_plans_for_the_loops_typical_lateness_and_judges_with_its_worst() -> None:
    with probed_loop(0.002, 200) as (loop, probe):
        hold_up(loop, probe, STALL)
        assert probe.worst_since(0.0) >= SEEN
        assert probe.typical_since(0.0) < SEEN


def test_a_check_of_stamps_counts_only_the_stalls_that_held_one_up() -> None:
    """A stamp the fakes make in a stall, or shortly after one, is late by up to the stall; a
    stall well between two stamps delays neither, so a check comparing only those stamps is not
    widened by it."""
    with probed_loop(0.005, 3) as (loop, probe):
        early = loop.run_sync(time.monotonic)            # stamped on the loop, as a fake does
        moved_on = probe.taken
        wait_until(lambda: probe.taken >= moved_on + 3, timeout=5.0, what="three timers after the stamp")
        hold_up(loop, probe, STALL)
        soon_after = loop.run_sync(time.monotonic)
        stall_over = time.monotonic()
        wait_until(lambda: time.monotonic() > stall_over + 2 * LOOP_LOOKBACK, timeout=5.0,
                   what="twice the lookback after the stall")
        later = loop.run_sync(time.monotonic)
        assert probe.over([(early, early), (later, later)]) < SEEN
        assert probe.over([(soon_after, soon_after)]) >= SEEN
        assert probe.worst_since(early) >= SEEN          # what a whole span counts


def test_a_check_of_timed_exchanges_counts_only_the_stalls_that_overlap_one() -> None:
    """An answer the harness timed ("at once") can have been lengthened by a stall while it was
    out, not by one before it was sent or after it came."""
    with probed_loop(0.005, 3) as (loop, probe):
        quiet = time.monotonic(), loop.run_sync(time.monotonic)
        moved_on = probe.taken
        wait_until(lambda: probe.taken >= moved_on + 3, timeout=5.0, what="three timers after the quiet exchange")
        sent = time.monotonic()
        hold_up(loop, probe, STALL)
        stalled = sent, time.monotonic()
        assert probe.over([quiet]) < SEEN
        assert probe.over([stalled]) >= SEEN
        assert probe.over([quiet, stalled]) >= SEEN


def test_a_stamp_made_as_a_stall_ends_counts_that_stall() -> None:
    with probed_loop(0.005, 3) as (loop, probe):
        queued: list[float] = []
        loop.run_sync(lambda: (time.sleep(STALL), queued.append(time.monotonic())))
        fired = probe.taken
        wait_until(lambda: probe.taken >= fired + 2, timeout=5.0, what="the held-up timer and one after it")
        assert probe.over([(queued[0], queued[0])]) >= SEEN


def test_a_stall_that_begins_just_after_a_stamp_counts_for_it() -> None:
    """The fake answers what it stamped after stamping it: a stall that begins before its answer
    is out holds up the implementation's next step (a backoff starts when it has the answer)."""
    with probed_loop(0.005, 3) as (loop, probe):
        stamped: list[float] = []
        loop.run_sync(lambda: (stamped.append(time.monotonic()), time.sleep(STALL)))
        fired = probe.taken
        wait_until(lambda: probe.taken >= fired + 2, timeout=5.0, what="the held-up timer and one after it")
        assert probe.over([(stamped[0], stamped[0])]) >= SEEN


def test_a_loop_held_up_right_now_counts_before_its_timer_fires() -> None:
    with probed_loop(0.005, 2) as (loop, probe):
        since = time.monotonic()
        held = in_background(lambda: loop.run_sync(time.sleep, STALL))
        wait_until(lambda: probe.worst_since(since) >= SEEN, timeout=5.0, what="the pending timer's lateness")
        held.wait(5.0)


# -- no fixed real-time slack in the steps ---------------------------------------------------

REAL_TIME = ("time_scale", "tolerance", "deadline", "patience", "at_once", "elapsed", ".real(", "monotonic")
UNIT_FACTORS = {1000}   # seconds to milliseconds


def slack_in(source: str, filename: str) -> list[str]:
    """Arithmetic that adds, subtracts or multiplies a fixed number into real seconds, and fixed
    numeric timeouts: every window must come from a Clock (the clause's bound and the tolerance)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "timeout" and isinstance(node.value, ast.Constant):
            found.append(f"{filename}:{node.value.lineno}: a fixed timeout={node.value.value!r}")
        if not isinstance(node, ast.BinOp):
            continue
        for number, other in ((node.left, node.right), (node.right, node.left)):
            if not (isinstance(number, ast.Constant) and isinstance(number.value, (int, float))):
                continue
            text = ast.unparse(other)
            if not any(word in text for word in REAL_TIME):
                continue
            if isinstance(node.op, (ast.Mult, ast.Div)) and number.value in UNIT_FACTORS:
                continue
            if number.value == 0:
                continue
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_step_adds_fixed_slack_to_a_window() -> None:
    found = [problem for path in sorted((PROJECT_ROOT / "steps").glob("*.py"))
             for problem in slack_in(path.read_text(), path.name)]
    assert not found, "fixed real-time slack in steps:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "limit = TIMEOUTS.cleanup * time_scale + timing_tolerance + 0.3",
    "wait_until(done, timeout=clock.deadline(TIMEOUTS.cleanup) + 0.5, what='x')",
    "wait_until(done, timeout=2.0, what='x')",
    "limit = TIMEOUTS.upstream * time_scale / 2",
])
def test_the_scan_finds_slack(line: str) -> None:
    assert slack_in(line, "x.py")


def test_the_scan_leaves_unit_conversions_and_spec_arithmetic_alone(tmp_path: Path) -> None:
    assert not slack_in("latency_ms = int(clock.real(TIMEOUTS.upstream * 1.5) * 1000)", "x.py")


def test_a_check_timed_by_the_cleanup_timeout_speaks_only_for_the_clauses_about_letting_go() -> None:
    """The hung provider's scenario: the connection's close judges the cleanup clauses, not when the
    504 came nor whether the attempt was retried, so a scale too coarse for it leaves those verified."""
    clauses = catalogue().clauses
    candidates = ("GW-TIMEOUT-001", "GW-TIMEOUT-003", "GW-TIMEOUT-005", "GW-RETRY-012", "GW-CLEANUP-002",
                  "HIVE-TIMEOUT-004", "HIVE-TIMEOUT-005", "HIVE-LIMIT-004")
    spoken = {c for c in candidates if about_the_cleanup_timeout(clauses[c])}
    assert spoken == {"GW-TIMEOUT-005", "GW-CLEANUP-002", "HIVE-TIMEOUT-004", "HIVE-TIMEOUT-005"}


def test_missing_a_bound_below_its_work_floor_is_not_verified_rather_than_failed() -> None:
    """At 0.1 the cleanup timeout is half a real second, less than the work it allows may take on a
    loaded machine: a miss there proves nothing. At a scale that honours the floor it fails."""
    from steps.timed import _unsure_below_the_work_floor

    def closes_late(timing: ScenarioTiming) -> None:
        raise AssertionError("last connection closed never observed by the deadline")

    judged = _unsure_below_the_work_floor(closes_late, CLEANUP)
    with pytest.raises(pytest.skip.Exception, match="needs time scale 0.15 or more.*closed never observed"):
        judged(timing=ScenarioTiming(0.1, lambda: 0.02, lambda _: None))
    with pytest.raises(AssertionError, match="closed never observed"):
        judged(timing=ScenarioTiming(CLEANUP_WORK_FLOOR / TIMEOUTS.cleanup, lambda: 0.02, lambda _: None))
