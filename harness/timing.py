"""Spec seconds to real seconds, the windows timed checks allow, and whether a check can decide.

Every timed check compares something measured in real seconds with a bound the clause states
in spec seconds. The only allowance is the timing tolerance the harness measures on this machine
(`harness.calibration`): a window is the clause's bound widened by it on each side, nothing else.

A check must also be able to tell a conforming implementation from the smallest violation its
clause must catch (its *distinction*: the 5 s between the 25 s upstream and the 30 s request
timeout, 10 % of a backoff delay, ...). In spec seconds the widening is tolerance / scale; when
that exceeds DECISION_FRACTION of the distinction the check is undecidable: it may still find a
violation beyond the widened window, but it never passes, and it says at which time scale it
would decide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DECISION_FRACTION = 0.5   # the widening may be at most half the smallest violation a check must catch
AT_ONCE = 1.0             # spec seconds: "at once" is within one spec second, plus the tolerance
SCALE_MARGIN = 2.0        # a scenario's scale is chosen for this much more tolerance than expected at its start
                          # (an event-loop stall during it adds to what its checks judge with)
PATIENCE_FACTOR = 2.0     # waits nothing is judged on (set-up) allow twice their spec bound ...
PATIENCE_FLOOR = 5.0      # ... and never less than this many real seconds (a process start, a loaded machine)
TOLERANCE_PROPERTY = "timing_tolerance"   # a test report's user property, once per timed check: its tolerance


@dataclass(frozen=True)
class Window:
    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


class Undecidable(Exception):
    """The tolerance is too coarse at this time scale for the distinction a check must make."""


class Resolution(Protocol):
    """What a timed check must resolve: the smallest scale at which it can, for a tolerance."""

    @property
    def what(self) -> str: ...

    def needed_scale(self, tolerance: float) -> float: ...


@dataclass(frozen=True)
class Distinction:
    """A check that must tell apart two durations `seconds` spec seconds apart."""

    seconds: float
    what: str

    def needed_scale(self, tolerance: float) -> float:
        return tolerance / (DECISION_FRACTION * self.seconds)


@dataclass(frozen=True)
class WorkBound:
    """A bound the implementation spends working rather than waiting (stopping processes, reaping
    them, exiting): that work takes real time no time scale shrinks, so besides resolving its
    distinction the check needs a scale at which the bound (`spec_seconds`) is at least
    `real_floor` real seconds. Below it, a conforming implementation could fail only because the
    bound was scaled down: the check is undecidable there, as for a coarse tolerance."""

    distinction: Distinction
    spec_seconds: float
    real_floor: float

    @property
    def what(self) -> str:
        return f"{self.distinction.what} (work that needs at least {self.real_floor:g} real s)"

    def needed_scale(self, tolerance: float) -> float:
        return max(self.distinction.needed_scale(tolerance), self.real_floor / self.spec_seconds)


@dataclass(frozen=True)
class Clock:
    """One check's conversion: the scenario's time scale and the tolerance measured when it ran."""

    scale: float
    tolerance: float        # real seconds

    def real(self, spec_seconds: float) -> float:
        return spec_seconds * self.scale

    def spec(self, real_seconds: float) -> float:
        return real_seconds / self.scale

    @property
    def widening(self) -> float:
        """The tolerance in spec seconds: how much any window is widened on each side."""
        return self.tolerance / self.scale

    def window(self, low: float, high: float) -> Window:
        """The spec bounds [low, high] in real seconds, widened by the tolerance on both sides."""
        return Window(max(0.0, self.real(low) - self.tolerance), self.real(high) + self.tolerance)

    def deadline(self, spec_seconds: float) -> float:
        """Real seconds by which something the clause bounds by `spec_seconds` must have happened."""
        return self.real(spec_seconds) + self.tolerance

    @property
    def at_once(self) -> float:
        return self.deadline(AT_ONCE)

    def patience(self, spec_seconds: float) -> float:
        """How long the harness waits for something it does not judge (a request to reach a fake
        so the scenario can go on): generous, because running out is the harness's failure."""
        return max(PATIENCE_FACTOR * self.real(spec_seconds), self.real(spec_seconds) + PATIENCE_FLOOR)

    def decides(self, resolution: Resolution) -> bool:
        return self.scale >= resolution.needed_scale(self.tolerance) * (1 - 1e-9)

    def require(self, resolution: Resolution) -> None:
        """Raises Undecidable, saying why and at which scale the check would decide."""
        if not self.decides(resolution):
            raise Undecidable(undecidable_reason(self, resolution))

    def note(self) -> str:
        return (f"real seconds at time scale {self.scale:g}; windows include the {self.tolerance * 1000:.1f} ms "
                f"timing tolerance ({self.widening:.3g} spec s)")


def undecidable_reason(clock: Clock, resolution: Resolution) -> str:
    needed = resolution.needed_scale(clock.tolerance)
    return (f"{resolution.what} cannot be decided at time scale {clock.scale:g} with the measured "
            f"{clock.tolerance * 1000:.1f} ms tolerance ({clock.widening:.3g} spec s on each side of a window); "
            + needs_scale(needed))


def needs_scale(scale: float) -> str:
    """How an undecided check names the time scale it would decide at (`needed_scale_in` reads it back)."""
    return f"it needs time scale {round_up_scale(scale):g} or more"


_NEEDS_SCALE = re.compile(r"it needs time scale (\S+) or more")


def needed_scale_in(message: str) -> float | None:
    """The time scale an undecided check's message says it needs, if it names one (a check undecided
    for another reason, such as a log it cannot see, names none: no scale decides it)."""
    found = _NEEDS_SCALE.search(message)
    if found is None:
        return None
    try:
        return float(found.group(1))
    except ValueError:
        return None


def round_up_scale(scale: float) -> float:
    """Up to two significant digits, so a chosen scale reads well and still suffices."""
    if scale <= 0:
        return 0.0
    if not math.isfinite(scale):
        return scale
    unit = 10.0 ** (math.floor(math.log10(scale)) - 1)
    return float(math.ceil(scale / unit - 1e-9) * unit)


def decides_at(scale: float, resolutions: Iterable[Resolution], tolerance: float) -> bool:
    """Whether every one of these checks can decide at `scale` with `tolerance`, with the
    planning margin (the machine may get busier before they judge)."""
    return all(r.needed_scale(tolerance * SCALE_MARGIN) <= scale for r in resolutions)


def choose_scale(base: float, resolutions: Iterable[Resolution], tolerance: float) -> float:
    """The scenario's time scale: `base` (the target's), raised to where its finest check can
    decide at the current tolerance (with a margin: the machine may get busier before the check
    judges), and never above 1 (real time)."""
    needed = max((r.needed_scale(tolerance * SCALE_MARGIN) for r in resolutions), default=0.0)
    return min(1.0, max(base, round_up_scale(needed) if needed > base else base))


# -- which steps are timed checks, so a scenario's scale can be chosen before it runs ----------

StepArguments = Mapping[str, Any]


@dataclass(frozen=True)
class TimedPhrase:
    """A Then (or When) phrase that makes a timed check, and what the check must resolve."""

    matches: Callable[[str], StepArguments | None]
    resolution: Callable[[StepArguments], Resolution]


TIMED_PHRASES: list[TimedPhrase] = []


def register_timed_phrase(matches: Callable[[str], StepArguments | None],
                          resolution: Resolution | Callable[[StepArguments], Resolution]) -> None:
    """`resolution` is fixed, or computed from the step's arguments (a gap of N seconds)."""
    if callable(resolution):
        TIMED_PHRASES.append(TimedPhrase(matches, resolution))
    else:
        fixed = resolution
        TIMED_PHRASES.append(TimedPhrase(matches, lambda _: fixed))


def resolutions_of(step_texts: Iterable[str]) -> list[Resolution]:
    """What every timed check among these steps must resolve."""
    found = []
    for text in step_texts:
        for phrase in TIMED_PHRASES:
            arguments = phrase.matches(text)
            if arguments is not None:
                found.append(phrase.resolution(arguments))
    return found


Span = tuple[float, float]   # (start, end), time.monotonic()


class ScenarioTiming:
    """One scenario's time scale, and a clock for each check it makes, with the tolerance
    measured at that moment; `used` sees every tolerance a check was given, for the report."""

    def __init__(self, scale: float, tolerance_now: Callable[[], float],
                 used: Callable[[float], None] = lambda _: None,
                 tolerance_over: Callable[[Sequence[Span]], float] | None = None) -> None:
        self.scale = scale
        self._tolerance_now = tolerance_now
        self._used = used
        self._tolerance_over = tolerance_over

    def clock(self, stamps: Sequence[float] = (), spans: Sequence[Span] = ()) -> Clock:
        """A check's clock. One that compares only times the fakes stamped (`stamps`) or that the
        harness measured within its own exchanges (`spans`) passes them: the event loop's stalls
        then count only where they overlap one of them, not everywhere since the scenario began."""
        over = self._tolerance_over
        judged = [*((stamp, stamp) for stamp in stamps), *spans]
        tolerance = self._tolerance_now() if not judged or over is None else over(judged)
        self._used(tolerance)
        return Clock(self.scale, tolerance)
