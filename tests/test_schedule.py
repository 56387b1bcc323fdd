"""The schedule checker against crafted histories: ones that conform and ones that must fail."""

from __future__ import annotations

import itertools

import pytest

from harness.timing import Clock
from harness.schedule import GATEWAY_BACKOFF, HIVE_BACKOFF, BackoffSchedule, Problem, Window, check_schedule

SCALE, TOL = 0.05, 0.01


def history(delays: list[float], start: float = 100.0) -> list[float]:
    return [start + sum(delays[:i]) for i in range(len(delays) + 1)]


def scaled(spec_delays: list[float]) -> list[float]:
    return [d * SCALE for d in spec_delays]


def test_hive_history_inside_every_window_passes() -> None:
    verdict = check_schedule(history(scaled([1.3, 2.9, 4.0, 8.5, 16.99])), HIVE_BACKOFF, Clock(SCALE, TOL),
                             expected_attempts=6)
    assert verdict.ok, str(verdict)
    assert len(verdict.delays) == 5


def test_gateway_history_with_cap_passes() -> None:
    schedule = BackoffSchedule(1.0, 2.0, max_attempts=8, cap=30.0, jitter_factor=(0.9, 1.1))
    verdict = check_schedule(history(scaled([1.05, 1.9, 4.1, 8.0, 15.0, 31.0, 28.0])), schedule, Clock(SCALE, TOL))
    assert verdict.ok, str(verdict)


def test_retry_that_comes_too_early_fails_naming_attempt_and_margin() -> None:
    verdict = check_schedule(history(scaled([1.2, 0.5, 4.2])), HIVE_BACKOFF, Clock(SCALE, TOL))
    assert not verdict.ok
    [violation] = verdict.violations
    assert violation.problem is Problem.TOO_EARLY and violation.attempt == 3
    assert violation.by == pytest.approx(2.0 * SCALE - TOL - 0.5 * SCALE)
    assert "attempt 3 came too early" in str(verdict)


def test_retry_that_comes_too_late_fails() -> None:
    verdict = check_schedule(history(scaled([1.5, 2.5, 6.0])), HIVE_BACKOFF, Clock(SCALE, TOL))
    [violation] = verdict.violations
    assert violation.problem is Problem.TOO_LATE and violation.attempt == 4
    assert violation.by == pytest.approx(6.0 * SCALE - (5.0 * SCALE + TOL))


def test_a_sixth_retry_is_too_many_attempts() -> None:
    verdict = check_schedule(history(scaled([1.5, 2.5, 4.5, 8.5, 16.5, 17.0])), HIVE_BACKOFF, Clock(SCALE, TOL))
    assert [v.problem for v in verdict.violations] == [Problem.TOO_MANY]
    assert verdict.violations[0].attempt == 7


def test_a_retried_permanent_failure_is_too_many_attempts() -> None:
    verdict = check_schedule(history(scaled([1.5])), HIVE_BACKOFF, Clock(SCALE, TOL),
                             expected_attempts=1)
    assert [v.problem for v in verdict.violations] == [Problem.TOO_MANY]


def test_giving_up_early_is_too_few_attempts() -> None:
    verdict = check_schedule(history(scaled([1.5, 2.5])), HIVE_BACKOFF, Clock(SCALE, TOL),
                             expected_attempts=6)
    assert [v.problem for v in verdict.violations] == [Problem.TOO_FEW]


def test_tolerance_widens_windows_on_both_sides() -> None:
    just_early = history([1.0 * SCALE - TOL / 2])
    assert check_schedule(just_early, HIVE_BACKOFF, Clock(SCALE, TOL)).ok
    assert not check_schedule(just_early, HIVE_BACKOFF, Clock(SCALE, 0.0)).ok


def test_override_replaces_a_window_for_retry_after() -> None:
    times = history(scaled([3.0]))
    assert not check_schedule(times, GATEWAY_BACKOFF, Clock(SCALE, TOL)).ok
    assert check_schedule(times, GATEWAY_BACKOFF, Clock(SCALE, TOL),
                          overrides={1: Window(3.0, 3.0)}).ok


def test_windows_follow_the_seed_formulas() -> None:
    assert [HIVE_BACKOFF.window(n) for n in range(1, 6)] == [
        Window(1, 2), Window(2, 3), Window(4, 5), Window(8, 9), Window(16, 17)]
    assert GATEWAY_BACKOFF.window(1) == Window(pytest.approx(0.9), pytest.approx(1.1))  # type: ignore[arg-type]
    assert GATEWAY_BACKOFF.window(7) == Window(pytest.approx(27.0), pytest.approx(33.0))  # type: ignore[arg-type]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3)))[:3])
def test_attempt_order_of_recording_does_not_matter(order: tuple[int, ...]) -> None:
    times = history(scaled([1.5, 2.5]))
    shuffled = [times[i] for i in order]
    assert check_schedule(shuffled, HIVE_BACKOFF, Clock(SCALE, TOL)).ok
