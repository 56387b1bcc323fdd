"""Retry schedules checked against recorded attempt times (a pure function, no clock inside).

A schedule says, for the n-th retry (n = 1 after the first attempt), the window of spec seconds
its delay may take: base_n = min(initial * multiplier**(n-1), cap), widened by jitter that is
multiplicative (seed 004: x U[0.9, 1.1]) and/or additive (seed 000: + U[0, 1] s). Observed delays
are compared in real seconds with windows from the check's `Clock` (harness.timing): the spec
window times the scale, widened by the tolerance measured on this machine on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from harness.timing import Clock, Window


@dataclass(frozen=True)
class BackoffSchedule:
    initial: float
    multiplier: float
    max_attempts: int                       # the first attempt plus every retry
    cap: float | None = None
    jitter_factor: tuple[float, float] = (1.0, 1.0)
    jitter_add: tuple[float, float] = (0.0, 0.0)

    def base(self, retry: int) -> float:
        delay = self.initial * self.multiplier ** (retry - 1)
        return delay if self.cap is None else min(delay, self.cap)

    def window(self, retry: int) -> Window:
        base = self.base(retry)
        return Window(base * self.jitter_factor[0] + self.jitter_add[0],
                      base * self.jitter_factor[1] + self.jitter_add[1])


HIVE_BACKOFF = BackoffSchedule(initial=1.0, multiplier=2.0, max_attempts=6, jitter_add=(0.0, 1.0))
GATEWAY_BACKOFF = BackoffSchedule(initial=1.0, multiplier=2.0, max_attempts=6, cap=30.0,
                                  jitter_factor=(0.9, 1.1))


class Problem(StrEnum):
    TOO_EARLY = "too early"
    TOO_LATE = "too late"
    TOO_MANY = "too many attempts"
    TOO_FEW = "too few attempts"


@dataclass(frozen=True)
class Violation:
    problem: Problem
    attempt: int                 # 1-based index of the attempt that broke the rule
    observed: float              # real seconds (a delay, or a count for attempt-count problems)
    allowed: Window | None = None
    by: float = 0.0              # real seconds outside the window
    call: int | None = None      # 1-based call, when a check looks at several

    def __str__(self) -> str:
        if self.problem in (Problem.TOO_MANY, Problem.TOO_FEW):
            return f"{self.problem}: {int(self.observed)} attempts, allowed {self.allowed}"
        assert self.allowed is not None
        return (("" if self.call is None else f"call {self.call}: ") +
                f"attempt {self.attempt} came {self.problem}: delay {self.observed:.4f}s, allowed "
                f"[{self.allowed.low:.4f}, {self.allowed.high:.4f}]s, off by {self.by:.4f}s")


@dataclass(frozen=True)
class ScheduleVerdict:
    delays: tuple[float, ...]
    windows: tuple[Window, ...]            # real-time windows, tolerance included
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        if self.ok:
            return f"{len(self.delays) + 1} attempts, every delay inside its window"
        return "; ".join(str(v) for v in self.violations)


def check_schedule(attempt_times: Sequence[float], schedule: BackoffSchedule, clock: Clock, *,
                   expected_attempts: int | None = None,
                   overrides: Mapping[int, Window] | None = None) -> ScheduleVerdict:
    """Compare recorded attempt times with `schedule`.

    `expected_attempts` demands an exact count (an upstream that always fails must see every
    allowed attempt); `overrides` replaces the window of given retries in spec seconds (a
    server-provided Retry-After, say).
    """
    times = sorted(attempt_times)
    delays = tuple(b - a for a, b in zip(times, times[1:], strict=False))
    overrides = overrides or {}
    windows: list[Window] = []
    violations: list[Violation] = []
    for retry, delay in enumerate(delays, start=1):
        spec_window = overrides.get(retry, schedule.window(retry))
        window = clock.window(spec_window.low, spec_window.high)
        windows.append(window)
        if retry >= schedule.max_attempts:
            continue  # counted below as too many attempts, not as a timing problem
        if delay < window.low:
            violations.append(Violation(Problem.TOO_EARLY, retry + 1, delay, window, window.low - delay))
        elif delay > window.high:
            violations.append(Violation(Problem.TOO_LATE, retry + 1, delay, window, delay - window.high))
    count = len(times)
    if count > schedule.max_attempts:
        violations.append(Violation(Problem.TOO_MANY, schedule.max_attempts + 1, count,
                                    Window(1, schedule.max_attempts)))
    if expected_attempts is not None and count < expected_attempts:
        violations.append(Violation(Problem.TOO_FEW, count, count, Window(expected_attempts, expected_attempts)))
    elif expected_attempts is not None and count > expected_attempts and count <= schedule.max_attempts:
        violations.append(Violation(Problem.TOO_MANY, expected_attempts + 1, count,
                                    Window(expected_attempts, expected_attempts)))
    return ScheduleVerdict(delays, tuple(windows), tuple(violations))
