"""The jitter check: each retry delay inside its window, and the delays random, as a statistic
with a stated false-failure bound (a pure function of recorded attempt times, no clock inside)."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.schedule import BackoffSchedule, Problem, Violation
from harness.timing import Clock, Window, needs_scale


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
JITTER_EXCUSED = 1            # retries (calls) a stall may spread beyond the tolerance in a fixed sequence (factor)
SAME_JITTER_WITHIN_CALLS = "the same jitter at every retry of a call"   # how the within-call test fails


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


# -- jitter within a call ----------------------------------------------------------------------
#
# Each delay draws its own jitter (delay_n = base_n x U[0.9, 1.1], or base_n + U[0, 1] s), so a
# factor drawn once per call and reused at every retry (a common slip: `jitter = uniform(...)`
# before the loop) varies across calls and still is not jitter. Such a call's delays all lie at
# the same place of their jitter ranges: its position p = (delay - least) / range's width, the
# same at every retry but for measurement error, at most the delay's tolerance / width (its
# "error"). So a call's delays vary within the call when two of its positions differ by more than
# their two errors; with a per-call factor no call does, but for a stall (JITTER_EXCUSED calls).
#
# True jitter gives independent uniform positions. The chance that they agree pairwise is at most
# that of any part of those conditions, and the check takes the least of two kinds of part
# (noise only lowers each, by the same argument as above: each is convex, symmetric, and
# unchanged by moving every position alike):
# - a set S of retries agreeing within the two largest errors of S: the range of |S| uniforms;
#   best over the retries with the least errors (equal errors, the hive's, make it exact);
# - every retry agreeing with one retry r within their two errors: given r's position x, the
#   others fall independently, so the chance is the integral over x of the product of
#   P(|U - x| <= a), a piecewise polynomial integrated exactly (unequal errors, the gateway's:
#   its early retries' ranges are narrow, so r is the widest).
# Calls draw independently: at most JITTER_EXCUSED calls vary with the chance
# `at_most_varying` gives.

Polynomial = tuple[float, ...]   # coefficients, the constant first


def _times(p: Polynomial, q: Polynomial) -> Polynomial:
    product = [0.0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            product[i + j] += a * b
    return tuple(product)


def _integral(p: Polynomial, low: float, high: float) -> float:
    return sum(c * (high ** (i + 1) - low ** (i + 1)) / (i + 1) for i, c in enumerate(p))


def _near(x: float, a: float) -> Polynomial:
    """P(|U - x| <= a) for U uniform on [0, 1], as a polynomial in x on a piece whose middle is x."""
    upper = (1.0, 0.0) if x + a >= 1 else (a, 1.0)      # min(1, x + a)
    lower = (0.0, 0.0) if x - a <= 0 else (-a, 1.0)     # max(0, x - a)
    return (upper[0] - lower[0], upper[1] - lower[1])


def agree_with_one_chance(reach: Sequence[float]) -> float:
    """The chance that independent uniforms on [0, 1] all lie within their `reach` of one more."""
    cuts = sorted({0.0, 1.0, *(c for a in reach for c in (a, 1 - a) if 0 < c < 1)})
    total = 0.0
    for low, high in itertools.pairwise(cuts):
        product: Polynomial = (1.0,)
        for a in reach:
            product = _times(product, _near((low + high) / 2, a))
        total += _integral(product, low, high)
    return min(1.0, total)


def positions_agree_chance(errors: Sequence[float]) -> float:
    """At most this chance that one call's independent uniform positions, measured each within its
    error, agree pairwise within the sum of their errors (1 when no two retries could show it)."""
    return _positions_agree_chance(tuple(errors))


@functools.lru_cache(maxsize=4096)   # a run's calls mostly share their errors; the planner asks again and again
def _positions_agree_chance(errors: tuple[float, ...]) -> float:
    least = sorted(errors)
    by_range = (spread_within_chance(count, least[count - 1] + least[count - 2], 1.0)
                for count in range(2, len(least) + 1))
    by_one = (agree_with_one_chance([e + errors[r] for k, e in enumerate(errors) if k != r])
              for r in range(len(errors)))
    return min(itertools.chain(by_range, by_one), default=1.0)


@dataclass(frozen=True)
class CallJitter:
    """Where one call's delays lie in their jitter ranges, 0 (the least delay) to 1 (the most)."""

    call: int
    positions: tuple[float, ...]   # retry 1 first
    errors: tuple[float, ...]      # each position's measurement error at most: its tolerance / the range's width

    @property
    def chance(self) -> float:
        """At most this chance that true jitter puts every delay of this call at one position."""
        return positions_agree_chance(self.errors)

    @property
    def informative(self) -> bool:
        return self.chance < 1.0

    @property
    def varies(self) -> bool:
        pairs = zip(self.positions, self.errors, strict=True)
        return any(abs(a - b) > error_a + error_b for (a, error_a), (b, error_b) in itertools.combinations(pairs, 2))

    @property
    def spread(self) -> float:
        return max(self.positions) - min(self.positions) if self.positions else 0.0


@dataclass(frozen=True)
class JitterResolution:
    """What a jitter check across `calls` calls needs: a time scale at which a truly jittered
    implementation fails it at most `target` of the time, at a given tolerance."""

    schedule: BackoffSchedule
    calls: int
    target: float = JITTER_FALSE_FAILURE

    @property
    def what(self) -> str:
        return (f"the variation of the retry delays across {self.calls} calls and within each (a false failure's "
                f"chance at most {chance(self.target)})")

    def across_calls(self, scale: float, tolerance: float) -> float:
        """At most this chance that true jitter shows no variation across the calls."""
        widths = jitter_widths(self.schedule)
        return false_failure_bound([self.calls] * len(widths), [w * scale for w in widths],
                                   spread_threshold([tolerance, tolerance]))

    def within_calls(self, scale: float, tolerance: float) -> float:
        """At most this chance that true jitter shows the same position at every retry of all but
        JITTER_EXCUSED calls."""
        errors = [tolerance / (w * scale) for w in jitter_widths(self.schedule)]
        return at_most_varying([positions_agree_chance(errors)] * self.calls)

    def false_failure(self, scale: float, tolerance: float) -> float:
        return min(1.0, self.across_calls(scale, tolerance) + self.within_calls(scale, tolerance))

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
    false_failure: float                   # at most this chance that true jitter fails either test of variation
    target: float
    undecided: str | None = None           # why the variation could not be judged
    within: tuple[CallJitter, ...] = ()    # each call's delays' positions in their jitter ranges

    @property
    def varying(self) -> tuple[int, ...]:
        """The retries that could show jitter and vary across the calls by more than two delays' tolerances."""
        return tuple(r.retry for r in self.retries if r.informative and r.varies)

    @property
    def no_jitter(self) -> bool:
        """Decided, and at most JITTER_EXCUSED of the retries that could show jitter vary."""
        return self.undecided is None and len(self.varying) <= JITTER_EXCUSED

    @property
    def informative_calls(self) -> tuple[CallJitter, ...]:
        return tuple(c for c in self.within if c.informative)

    @property
    def varying_calls(self) -> tuple[int, ...]:
        """The calls that could show jitter and whose delays lie at different places of their ranges."""
        return tuple(c.call for c in self.informative_calls if c.varies)

    @property
    def same_within_calls(self) -> bool:
        """Decided, and at most JITTER_EXCUSED of the calls that could show jitter vary within themselves."""
        return self.undecided is None and len(self.varying_calls) <= JITTER_EXCUSED

    @property
    def ok(self) -> bool:
        return not self.out_of_window and not self.no_jitter and not self.same_within_calls

    def positions_note(self) -> str:
        """Each informative call's spread of positions, and how exact a position is."""
        informative = self.informative_calls
        errors = [e for c in informative for e in c.errors]
        exact = f"{min(errors) * 100:.0f} to {max(errors) * 100:.0f} %" if errors else "-"
        return (f"positions 0 to 100 % of a range, each exact to its tolerance, {exact} of the range; "
                f"spreads per call: " + ", ".join(f"call {c.call} {c.spread * 100:.0f} %" for c in informative))

    def spreads(self) -> str:
        return ", ".join(f"retry {r.retry} {r.spread * 1000:.1f}" for r in self.retries if r.informative) + " ms"

    def __str__(self) -> str:
        problems = [str(v) for v in self.out_of_window]
        if self.no_jitter:
            but = _excused("retry", "retries", self.varying)
            problems.append(
                f"no jitter across calls: at every retry that can show it{but} the {self.calls} calls' delays agree "
                f"within two delays' tolerances (up to 2 x {self.tolerance * 1000:.1f} ms; spreads {self.spreads()}), "
                f"as a fixed "
                f"sequence of delays would; true jitter does that with a chance of at most "
                f"{chance(self.false_failure)}")
        if self.same_within_calls:
            but = _excused("call", "calls", self.varying_calls)
            problems.append(
                f"{SAME_JITTER_WITHIN_CALLS}: in every call{but} the delays lie at one place of their jitter "
                f"ranges within their tolerances, as one factor drawn per call and kept for each retry would "
                f"({self.positions_note()}); true jitter does that in "
                f"{len(self.informative_calls) - len(self.varying_calls)} of {len(self.informative_calls)} calls "
                f"with a chance of at most "
                f"{chance(self.false_failure)}")
        if problems:
            return "; ".join(problems)
        windows = f"{self.calls} calls, every delay inside its window"
        if self.undecided is not None:
            return f"{windows}; their variation across calls not judged: {self.undecided}"
        return (f"{windows}; the delays before retries {', '.join(map(str, self.varying))} vary across calls by "
                f"more than two delays' tolerances (up to 2 x {self.tolerance * 1000:.1f} ms; "
                f"spreads {self.spreads()}), and within calls {', '.join(map(str, self.varying_calls))} the delays "
                f"lie at places of their jitter ranges further apart than their tolerances ({self.positions_note()}); "
                f"a false failure has a chance of at most {chance(self.false_failure)}")


def _excused(one: str, many: str, numbers: Sequence[int]) -> str:
    """The ' but retry 2 (which a stall may spread)' of a failure: what a fixed sequence may show varying."""
    if not numbers:
        return ""
    return f" but {one if len(numbers) == 1 else many} {', '.join(map(str, numbers))} (which a stall may spread)"


DelayClock = Callable[[float, float], Clock]   # the clock of one delay, from the two attempt times it lies between


def check_jitter(calls: Sequence[Sequence[float]], schedule: BackoffSchedule, clock: Clock, *,
                 target: float = JITTER_FALSE_FAILURE, delay_clock: DelayClock | None = None) -> JitterVerdict:
    """Each delay within its window (the schedule check's), the delays before each retry varying
    across `calls` (each one call's attempt times), and each call's delays varying within it.

    No variation across calls (the spread within the tolerance at every retry that can show
    jitter but at most JITTER_EXCUSED), or none within calls (every delay of a call at one place
    of its jitter range, in all calls but at most JITTER_EXCUSED), is a violation only when true
    jitter would show either with a chance of at most `target`; otherwise the verdict is
    undecided, says why, and at which scale or with how many calls it would decide.

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
    within = []
    for call, attempt_times in enumerate(calls, start=1):
        times = sorted(attempt_times)
        positions: list[float] = []
        errors: list[float] = []
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
            width = clock.real(spec.high - spec.low)
            if width > 0:
                positions.append((delay - clock.real(spec.low)) / width)
                errors.append(judged_by.tolerance / width)
        within.append(CallJitter(call, tuple(positions), tuple(errors)))
    retries = []
    for retry, (seen, spec, judged) in enumerate(zip(delays, specs, tolerances, strict=True), start=1):
        if seen:
            widest = max(judged)
            retries.append(RetryJitter(retry, tuple(seen), tuple(callers[retry - 1]),
                                       Clock(clock.scale, widest).window(spec.low, spec.high),
                                       clock.real(spec.low), clock.real(spec.high - spec.low), widest,
                                       spread_threshold(judged)))
    tolerance = max((r.tolerance for r in retries), default=clock.tolerance)
    bound = min(1.0, at_most_varying([r.chance for r in retries]) + at_most_varying([c.chance for c in within]))
    undecided = None
    if len(calls) > 1 and not any(len(r.delays) > 1 for r in retries):
        # Not a matter of scale: there is no delay to compare across calls (the implementation
        # answered without retrying, e.g. its breaker opened on the calls' first attempts).
        made = ", ".join(str(len(times)) for times in calls)
        undecided = (f"no retry was made by two of the {len(calls)} calls (attempts per call: {made}), so there is "
                     f"no delay to compare across calls")
    elif bound > target:
        undecided = _undecided_reason(schedule, Clock(clock.scale, tolerance), len(calls), bound, target)
    return JitterVerdict(tuple(retries), len(calls), tolerance, tuple(out_of_window), bound, target, undecided,
                         tuple(within))


def _undecided_reason(schedule: BackoffSchedule, clock: Clock, calls: int, bound: float, target: float) -> str:
    scale = JitterResolution(schedule, calls, target).needed_scale(clock.tolerance)
    more = calls_needed(schedule, clock.scale, clock.tolerance, target)
    return (f"with {calls} call(s) at time scale {clock.scale:g} and the measured {clock.tolerance * 1000:.1f} ms "
            f"tolerance, a truly jittered implementation would show no variation with a chance of up to "
            f"{chance(bound)}, more than the {chance(target)} allowed; "
            + (f"{needs_scale(scale)} with {calls} calls" if math.isfinite(scale) else "it needs at least 2 calls")
            + (f", or {more} calls at time scale {clock.scale:g}" if more is not None and more != calls else ""))
