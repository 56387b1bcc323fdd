"""Retry schedules checked against recorded attempt times (a pure function, no clock inside).

A schedule says, for the n-th retry (n = 1 after the first attempt), the window of spec seconds
its delay may take: base_n = min(initial * multiplier**(n-1), cap), widened by jitter that is
multiplicative (seed 004: x U[0.9, 1.1]) and/or additive (seed 000: + U[0, 1] s). Observed delays
are compared in real seconds with windows from the check's `Clock` (harness.timing): the spec
window times the scale, widened by the tolerance measured on this machine on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from harness.timing import Clock, Window, needs_scale


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


# -- jitter across calls ---------------------------------------------------------------------
#
# Jitter must be random, so the delay before retry n must vary from one call to the next. A
# fixed "jitter" (a constant factor, one seeded sequence that every call replays, a factor set
# by the attempt number, none at all) gives every call the same delay at retry n, and what the
# harness measures differs only by measurement error, which for each delay is, by the
# tolerance's definition, within the tolerance on either side (the window's widening): a late
# second arrival lengthens a delay, a late first stamp shortens it. So the spread (max - min)
# of the calls' delays at retry n stays within two delays' tolerances: a gateway's five calls
# replaying one seeded sequence, each retry queued behind the others' in its event loop, spread
# 22 and 31 ms against a 22 ms tolerance and passed when one tolerance was the bound. One stall of the
# machine can still spread one retry further (the tolerance is a high percentile, not a
# maximum; a loaded machine showed it), so the check calls it no jitter when at most
# JITTER_EXCUSED of the retries that could show jitter spread beyond the tolerance.
#
# True jitter spreads them further, except by chance. For K calls with independent uniform
# jitter of real width W at a retry, P(spread <= c) = K x^(K-1) - (K-1) x^K, x = c / W (the
# range of K uniforms). Measurement noise that is independent of the jitter only lowers it:
# given the noise, the delays are uniforms on shifted intervals, and by Anderson's theorem (a
# centred box's uniform density is symmetric and unimodal, {spread <= c} is convex and
# symmetric) shifting them apart can only shrink the chance. Retries draw independently, so the
# chance that a truly jittered implementation spreads at most JITTER_EXCUSED retries, a false
# failure, is at most that of independent events with those chances (it only grows with each
# of them). The check judges the variation only when that bound is at most JITTER_FALSE_FAILURE;
# otherwise it cannot decide, and says at which time scale, or with how many calls, it could.

JITTER_FALSE_FAILURE = 1e-4   # the most a truly jittered implementation may fail the check
JITTER_EXCUSED = 1            # retries a stall may spread beyond the tolerance in a fixed sequence


def chance(p: float) -> str:
    """A small probability as people write it: 1e-4, 1.2e-5, 0.006."""
    if p >= 1e-3 or p == 0:
        return f"{p:.2g}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def spread_within_chance(calls: int, threshold: float, width: float) -> float:
    """At most this chance that `calls` delays with independent uniform jitter of real width
    `width` (plus any noise independent of it) spread by no more than `threshold`; 1 where
    the spread could not show jitter (fewer than two calls, or a range no wider than the
    threshold)."""
    if calls < 2 or width <= threshold:
        return 1.0
    x = threshold / width
    return float(calls * x ** (calls - 1) - (calls - 1) * x ** calls)


def jitter_widths(schedule: BackoffSchedule) -> tuple[float, ...]:
    """Spec seconds of jitter each retry's window allows (the window's width), retry 1 first."""
    return tuple(schedule.window(retry).high - schedule.window(retry).low
                 for retry in range(1, schedule.max_attempts))


def spread_threshold(tolerances: Sequence[float]) -> float:
    """The spread delays judged with these tolerances can show with no jitter at all: one delay off by
    its tolerance one way, another by its own the other way (the two widest)."""
    widest = sorted(tolerances, reverse=True)[:2]
    return sum(widest) if len(widest) == 2 else 0.0


def at_most_varying(chances: Sequence[float], excused: int = JITTER_EXCUSED) -> float:
    """The chance that at most `excused` of independent retries vary, when each stays within the
    threshold with the chance given (a Poisson-binomial tail)."""
    varying = [1.0]                      # varying[j]: the chance that j of the retries so far vary
    for p in chances:
        varying = [a * p + b * (1 - p) for a, b in zip([*varying, 0.0], [0.0, *varying], strict=True)]
    return min(1.0, sum(varying[:excused + 1]))


def false_failure_bound(calls_per_retry: Sequence[int], widths: Sequence[float], threshold: float) -> float:
    """At most this chance that true jitter spreads no more than JITTER_EXCUSED retries by more
    than `threshold` (real seconds)."""
    return at_most_varying([spread_within_chance(k, threshold, w)
                            for k, w in zip(calls_per_retry, widths, strict=True)])


@dataclass(frozen=True)
class JitterResolution:
    """What a jitter check across `calls` calls needs: a time scale at which a truly jittered
    implementation fails it at most `target` of the time, at a given tolerance."""

    schedule: BackoffSchedule
    calls: int
    target: float = JITTER_FALSE_FAILURE

    @property
    def what(self) -> str:
        return (f"the variation of the retry delays across {self.calls} calls (a false failure's chance at most "
                f"{chance(self.target)})")

    def false_failure(self, scale: float, tolerance: float) -> float:
        widths = jitter_widths(self.schedule)
        return false_failure_bound([self.calls] * len(widths), [w * scale for w in widths],
                                   spread_threshold([tolerance, tolerance]))

    def needed_scale(self, tolerance: float) -> float:
        """The smallest scale whose false-failure bound meets the target (bisection: the bound
        falls as the scale grows); infinite when no scale does (fewer than two calls)."""
        high = 1.0
        while self.false_failure(high, tolerance) > self.target:
            high *= 2
            if high > 1e6:
                return math.inf
        low = 0.0
        while high - low > high * 1e-12:
            middle = (low + high) / 2
            low, high = (low, middle) if self.false_failure(middle, tolerance) <= self.target else (middle, high)
        return high * (1 + 1e-8)   # at or above the exact bound, so `Clock.decides` never admits a scale below it


def calls_needed(schedule: BackoffSchedule, scale: float, tolerance: float,
                 target: float = JITTER_FALSE_FAILURE, most: int = 50) -> int | None:
    """The fewest calls whose jitter check decides at this scale and tolerance (None: more than `most`)."""
    return next((k for k in range(2, most + 1) if JitterResolution(schedule, k, target).false_failure(scale, tolerance)
                 <= target), None)


@dataclass(frozen=True)
class RetryJitter:
    """The calls' delays before one retry, real seconds."""

    retry: int
    delays: tuple[float, ...]      # one per call that reached this retry
    calls: tuple[int, ...]         # the 1-based call of each delay
    window: Window                 # what each delay may take: the schedule check's window, tolerance included
    earliest: float                # the window's low end without the tolerance (the unjittered delay's least)
    width: float                   # the jitter range the schedule allows, without the tolerance
    tolerance: float               # the widest tolerance any of its delays was judged with
    threshold: float               # the spread fixed delays may show: two delays' tolerances (spread_threshold)

    @property
    def spread(self) -> float:
        return max(self.delays) - min(self.delays) if len(self.delays) > 1 else 0.0

    @property
    def chance(self) -> float:
        """At most this chance that true jitter spreads this retry's delays no further than the threshold."""
        return spread_within_chance(len(self.delays), self.threshold, self.width)

    @property
    def informative(self) -> bool:
        return self.chance < 1.0

    @property
    def varies(self) -> bool:
        return self.spread > self.threshold


@dataclass(frozen=True)
class JitterVerdict:
    retries: tuple[RetryJitter, ...]
    calls: int
    tolerance: float
    out_of_window: tuple[Violation, ...]   # delays outside their windows: sure violations
    false_failure: float                   # at most this chance that true jitter shows no variation
    target: float
    undecided: str | None = None           # why the variation across calls could not be judged

    @property
    def varying(self) -> tuple[int, ...]:
        """The retries that could show jitter and vary across the calls by more than two delays' tolerances."""
        return tuple(r.retry for r in self.retries if r.informative and r.varies)

    @property
    def no_jitter(self) -> bool:
        """Decided, and at most JITTER_EXCUSED of the retries that could show jitter vary."""
        return self.undecided is None and len(self.varying) <= JITTER_EXCUSED

    @property
    def ok(self) -> bool:
        return not self.out_of_window and not self.no_jitter

    def spreads(self) -> str:
        return ", ".join(f"retry {r.retry} {r.spread * 1000:.1f}" for r in self.retries if r.informative) + " ms"

    def __str__(self) -> str:
        problems = [str(v) for v in self.out_of_window]
        if self.no_jitter:
            but = (f" but retr{'y' if len(self.varying) == 1 else 'ies'} {', '.join(map(str, self.varying))} "
                   f"(which a stall may spread)" if self.varying else "")
            problems.append(
                f"no jitter across calls: at every retry that can show it{but} the {self.calls} calls' delays agree "
                f"within two delays' tolerances (up to 2 x {self.tolerance * 1000:.1f} ms; spreads {self.spreads()}), "
                f"as a fixed "
                f"sequence of delays would; true jitter does that with a chance of at most "
                f"{chance(self.false_failure)}")
        if problems:
            return "; ".join(problems)
        windows = f"{self.calls} calls, every delay inside its window"
        if self.undecided is not None:
            return f"{windows}; their variation across calls not judged: {self.undecided}"
        return (f"{windows}; the delays before retries {', '.join(map(str, self.varying))} vary across calls by "
                f"more than two delays' tolerances (up to 2 x {self.tolerance * 1000:.1f} ms; "
                f"spreads {self.spreads()}; a false failure has a chance of at most {chance(self.false_failure)})")


DelayClock = Callable[[float, float], Clock]   # the clock of one delay, from the two attempt times it lies between


def check_jitter(calls: Sequence[Sequence[float]], schedule: BackoffSchedule, clock: Clock, *,
                 target: float = JITTER_FALSE_FAILURE, delay_clock: DelayClock | None = None) -> JitterVerdict:
    """Each delay within its window (the schedule check's), and the delays before each retry
    varying across `calls` (each one call's attempt times).

    No variation (the spread within the tolerance at every retry that can show jitter but at
    most JITTER_EXCUSED) is a violation only when true jitter would show it with a chance of at
    most `target`; otherwise the verdict is undecided, says why, and at which scale or with how
    many calls it would decide.

    With `delay_clock`, each delay is judged with the tolerance of its own two attempts (a stall
    that held up one arrival widens that delay's window and its retry's threshold, not every
    other delay's); `clock` then only gives the scale.
    """
    clock_of = delay_clock or (lambda sent, next_sent: clock)
    specs = [schedule.window(retry) for retry in range(1, schedule.max_attempts)]
    delays: list[list[float]] = [[] for _ in specs]      # before each retry, in call order
    callers: list[list[int]] = [[] for _ in specs]
    tolerances: list[list[float]] = [[] for _ in specs]   # each delay's tolerance, per retry
    out_of_window = []
    for call, attempt_times in enumerate(calls, start=1):
        times = sorted(attempt_times)
        # attempts beyond the allowed ones are the schedule check's to count: zip stops at the last window
        for retry, (a, b, spec) in enumerate(zip(times, times[1:], specs, strict=False), start=1):
            delay = b - a
            judged_by = clock_of(a, b)
            window = judged_by.window(spec.low, spec.high)
            tolerances[retry - 1].append(judged_by.tolerance)
            if delay < window.low:
                out_of_window.append(Violation(Problem.TOO_EARLY, retry + 1, delay, window, window.low - delay, call))
            elif delay > window.high:
                out_of_window.append(Violation(Problem.TOO_LATE, retry + 1, delay, window, delay - window.high, call))
            delays[retry - 1].append(delay)
            callers[retry - 1].append(call)
    retries = []
    for retry, (seen, spec, judged) in enumerate(zip(delays, specs, tolerances, strict=True), start=1):
        if seen:
            widest = max(judged)
            retries.append(RetryJitter(retry, tuple(seen), tuple(callers[retry - 1]),
                                       Clock(clock.scale, widest).window(spec.low, spec.high),
                                       clock.real(spec.low), clock.real(spec.high - spec.low), widest,
                                       spread_threshold(judged)))
    tolerance = max((r.tolerance for r in retries), default=clock.tolerance)
    bound = at_most_varying([r.chance for r in retries])
    undecided = None
    if len(calls) > 1 and not any(len(r.delays) > 1 for r in retries):
        # Not a matter of scale: there is no delay to compare across calls (the implementation
        # answered without retrying, e.g. its breaker opened on the calls' first attempts).
        made = ", ".join(str(len(times)) for times in calls)
        undecided = (f"no retry was made by two of the {len(calls)} calls (attempts per call: {made}), so there is "
                     f"no delay to compare across calls")
    elif bound > target:
        undecided = _undecided_reason(schedule, Clock(clock.scale, tolerance), len(calls), bound, target)
    return JitterVerdict(tuple(retries), len(calls), tolerance, tuple(out_of_window), bound, target, undecided)


def _undecided_reason(schedule: BackoffSchedule, clock: Clock, calls: int, bound: float, target: float) -> str:
    scale = JitterResolution(schedule, calls, target).needed_scale(clock.tolerance)
    more = calls_needed(schedule, clock.scale, clock.tolerance, target)
    return (f"with {calls} call(s) at time scale {clock.scale:g} and the measured {clock.tolerance * 1000:.1f} ms "
            f"tolerance, a truly jittered implementation would show no variation with a chance of up to "
            f"{chance(bound)}, more than the {chance(target)} allowed; "
            + (f"{needs_scale(scale)} with {calls} calls" if math.isfinite(scale) else "it needs at least 2 calls")
            + (f", or {more} calls at time scale {clock.scale:g}" if more is not None and more != calls else ""))
