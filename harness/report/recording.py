"""Timed checks as Then steps record them, and read back from a scenario's history.

A step records the `TimedCheck` it asserted as a NOTE event before asserting, so a failed
check leaves its picture too. Scenarios without a recorded check still get a picture of
the requests the fakes received.

Breaker cooldowns are recorded when the harness waits one out (a NOTE from COOLDOWN_SOURCE),
so the Then step that counts the upstream's requests can draw them against that cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import Event, EventKind, History, Recorder
from harness.probes import own_connections
from harness.report.model import Lane, Span, TimedCheck
from harness.jitter import JitterVerdict
from harness.schedule import ScheduleVerdict
from harness.spec_values import BREAKER
from harness.wait import Cooldown

CHECK_SOURCE = "check"
COOLDOWN_SOURCE = "harness:breaker-cooldown"


def schedule_check(title: str, attempt_times: Sequence[float], verdict: ScheduleVerdict, *,
                   allowed_attempts: int, first_attempt: int = 1, note: str = "") -> TimedCheck:
    """Attempt n (after the first) against its window, anchored at attempt n-1 as `check_schedule`
    measured it; attempts beyond `allowed_attempts` have no window at all."""
    times = sorted(attempt_times)
    if not times:
        return TimedCheck(title, (), verdict.ok, str(verdict), note)
    origin = times[0]
    lanes = [Lane(f"attempt {first_attempt}", (0.0,), constrained=False)]
    for retry, (previous, current) in enumerate(zip(times, times[1:], strict=False), start=1):
        attempt = first_attempt + retry
        start = previous - origin
        windows: tuple[Span, ...] = ()
        if retry < allowed_attempts and retry <= len(verdict.windows):
            window = verdict.windows[retry - 1]
            windows = (Span(start + window.low, start + window.high, f"retry {retry}"),)
        lanes.append(Lane(f"attempt {attempt}", (current - origin,), windows))
    return TimedCheck(title, tuple(lanes), verdict.ok, str(verdict), note)


def window_check(title: str, label: str, observed: float, low: float, high: float, *, note: str = "") -> TimedCheck:
    lane = Lane(label, (observed,), (Span(low, high, "allowed"),))
    passed = low <= observed <= high
    detail = f"{label} after {observed:.3f} s; allowed [{low:.3f}, {high:.3f}] s"
    return TimedCheck(title, (lane,), passed, detail, note)


def record_check(recorder: Recorder, check: TimedCheck) -> None:
    recorder.record(EventKind.NOTE, CHECK_SOURCE, check=check.to_data())


def record_cooldown(recorder: Recorder, upstream_source: str, cooldown: Cooldown) -> None:
    recorder.record(EventKind.NOTE, COOLDOWN_SOURCE, upstream=upstream_source, opened_at=cooldown.opened_at,
                    opened_by=cooldown.opened_by, seconds=cooldown.seconds, tolerance=cooldown.tolerance)


def recorded_cooldowns(events: Iterable[Event], upstream_source: str) -> list[Cooldown]:
    return [Cooldown(float(e.data["opened_at"]), float(e.data["seconds"]), float(e.data["tolerance"]),
                     e.data.get("opened_by"))
            for e in events if e.kind == EventKind.NOTE and e.source == COOLDOWN_SOURCE
            and e.data.get("upstream") == upstream_source]


@dataclass(frozen=True)
class ProbeCall:
    """A call made while the breaker was open (monotonic seconds), and how long an answer at once may take."""

    label: str
    sent: float
    answered: float
    at_once: float


def breaker_check(title: str, request_times: Sequence[float], cooldown: Cooldown, expected: int,
                  now: float, probes: Sequence[ProbeCall] = ()) -> TimedCheck:
    """The upstream's requests against a cooldown (waited out, or still running when probed): none
    may arrive during it; after it, the requests a scenario expecting `expected` in all counts on
    (the trial, one call with its retries) may arrive from the cooldown's end on, and none beyond
    them. Each probe's answer is drawn against the at-once window from when it was sent."""
    times = sorted(request_times)
    origin = times[0] if times else cooldown.opened_at
    opened, reopens = cooldown.opened_at - origin, cooldown.ends_at - cooldown.tolerance - origin
    before = [t - origin for t in times if t <= cooldown.opened_at]
    during = [t - origin for t in times if cooldown.opened_at < t < cooldown.ends_at - cooldown.tolerance]
    after = [t - origin for t in times if t >= cooldown.ends_at - cooldown.tolerance]
    due = max(0, expected - len(before))
    trial, beyond = after[:due], after[due:]
    missing = (reopens,) * (due - len(trial))
    lanes = [Lane("before it opened", tuple(before), constrained=False),
             Lane("during the cooldown", tuple(during),
                  blocked=(Span(opened, reopens, "cooldown: the upstream may see no request"),))]
    if due or after:
        lanes.append(Lane("the trial, after it" if due else "after it (no trial expected)", tuple(trial),
                          (Span(reopens, now - origin, "half-open: the trial may pass"),) if due else (),
                          missing=missing))
    if beyond:
        lanes.append(Lane("beyond the one trial", tuple(beyond)))
    late = [p for p in probes if p.answered - p.sent > p.at_once]
    lanes += [Lane(f"probe {p.label}: answered", (p.answered - origin,),
                   (Span(p.sent - origin, p.sent - origin + p.at_once, "at once"),)) for p in probes]
    problems = [f"{len(during)} request(s) during the cooldown"] if during else []
    problems += [f"{len(missing)} of the {due} trial request(s) never arrived"] if missing else []
    problems += [f"{len(beyond)} request(s) beyond the one trial"] if beyond else []
    problems += [f"the probe {p.label} answered after {p.answered - p.sent:.3f} s, not at once" for p in late]
    expected_text = (f"{len(trial)} trial request(s) after it" if due or after else "the cooldown still running")
    if probes:
        expected_text += f", {len(probes)} probe(s) answered at once"
    detail = (f"opened at request {len(before)} ({opened:.3f} s), cooldown {cooldown.seconds:.3f} s; "
              + ("; ".join(problems) if problems else f"no request during it, {expected_text}, as expected"))
    note = window_note(cooldown.seconds / BREAKER.cooldown, cooldown.tolerance)
    return TimedCheck(title, tuple(lanes), not problems, detail, note)


def record_breaker_check(history: History, upstream_source: str, request_times: Sequence[float], expected: int,
                         title: str) -> TimedCheck | None:
    """Records `breaker_check` against the last cooldown the harness waited out for this
    upstream; a scenario that waited none gets no breaker picture (None)."""
    cooldowns = recorded_cooldowns(history.events(EventKind.NOTE, COOLDOWN_SOURCE), upstream_source)
    if not cooldowns:
        return None
    check = breaker_check(title, request_times, cooldowns[-1], expected, time.monotonic())
    record_check(history, check)
    return check


def jitter_check(title: str, verdict: JitterVerdict, *, note: str = "") -> TimedCheck:
    """Two lanes per retry, on one axis of real seconds from the earliest delay the retry's window
    allows: the calls' delays against that window (tolerance included), then their spread
    against two delays' tolerances, the most measurement noise may spread fixed delays. When the
    check found no jitter across calls, a spread within them is drawn red and the one a
    stall may have spread grey "(excused)"; otherwise a spread beyond it green and one within it
    grey "(chance)". A retry whose window is too narrow to show jitter has a grey spread."""
    lanes: list[Lane] = []
    for retry in verdict.retries:
        start = retry.earliest
        window = Span(retry.window.low - start, retry.window.high - start, f"window of retry {retry.retry}")
        lanes.append(Lane(f"retry {retry.retry}: delays − {start:.3g} s", tuple(d - start for d in retry.delays),
                          (window,)))
        varies = Span(retry.threshold, max(retry.width + retry.threshold, retry.spread),
                      "spread beyond two delays' tolerances: varies across calls")
        noise = Span(0.0, retry.threshold, "spread within two delays' tolerances: no variation shown")
        label, constrained = f"retry {retry.retry}: spread", True
        if not retry.informative:
            label, constrained = f"{label} (narrow)", False
        elif verdict.no_jitter and retry.varies:
            label, constrained = f"{label} (excused)", False
        elif not verdict.no_jitter and not retry.varies:
            label, constrained = f"{label} (chance)", False
        lanes.append(Lane(label, (retry.spread,), (varies,), constrained,
                          blocked=(noise,) if constrained else ()))
    return TimedCheck(title, tuple(lanes), verdict.ok, str(verdict), note)


def deadline_check(title: str, origin_label: str, label: str, origin: float, observed: float | None,
                   deadline: float, *, note: str = "") -> TimedCheck:
    """An instant that had to happen between `origin` and `deadline` (absolute monotonic
    seconds); `observed` None means it never did."""
    high = deadline - origin
    lane = Lane(label, () if observed is None else (observed - origin,), (Span(0.0, high, "allowed"),),
                missing=(high,) if observed is None else ())
    passed = observed is not None and origin <= observed <= deadline
    detail = (f"{label} never observed by the deadline, {high:.3f} s after {origin_label}" if observed is None else
              f"{label} {observed - origin:.3f} s after {origin_label}; allowed [0, {high:.3f}] s")
    return TimedCheck(title, (Lane(origin_label, (0.0,), constrained=False), lane), passed, detail, note)


def connections_closed_check(history: History, source: str, started: float, deadline: float, *, title: str,
                             note: str = "") -> TimedCheck:
    """When `source` saw its last connection close, from the last request it received (or the
    step's start), against the deadline the step waited to; not closed if one is still open."""
    requests = history.events(EventKind.REQUEST, source)
    own = own_connections(history, source)   # the implementation's own requests' connections are not the call's
    opened = [e for e in history.events(EventKind.CONNECTION_OPEN, source) if e.data.get("connection") not in own]
    closed = [e for e in history.events(EventKind.CONNECTION_CLOSE, source) if e.data.get("connection") not in own]
    origin, origin_label = (requests[-1].t, "its last request") if requests else (started, "the check began")
    observed = closed[-1].t if closed and len(opened) == len(closed) else None
    return deadline_check(title, origin_label, "last connection closed", origin, observed, deadline, note=note)


def process_exit_check(history: History, source: str, started: float, deadline: float, *, title: str,
                       note: str = "") -> TimedCheck:
    """When the harness saw `source` exit, from the signal it sent (or the step's start),
    against the deadline the step waited to."""
    signals = history.events(EventKind.SIGNAL_SENT, source)
    origin, origin_label = (signals[-1].t, f"{signals[-1].data.get('signal', 'the signal')} sent") if signals \
        else (started, "the check began")
    exits = [e for e in history.events(EventKind.PROCESS_EXIT, source) if e.t >= origin]
    return deadline_check(title, origin_label, "process exited", origin, exits[0].t if exits else None, deadline,
                          note=note)


def recorded_checks(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [dict(e.data["check"]) for e in events
            if e.kind == EventKind.NOTE and e.source == CHECK_SOURCE and "check" in e.data]


def arrivals_check(events: Iterable[Event]) -> TimedCheck | None:
    """Every request a fake received, one lane per fake, from the first arrival on."""
    arrivals = [e for e in events if e.kind == EventKind.REQUEST]
    if not arrivals:
        return None
    origin = arrivals[0].t
    sources = list(dict.fromkeys(e.source for e in arrivals))
    lanes = tuple(Lane(source, tuple(e.t - origin for e in arrivals if e.source == source), constrained=False)
                  for source in sources)
    count = len(arrivals)
    return TimedCheck("requests as the fakes received them", lanes, True,
                      f"{count} request(s) measured; no timed check recorded its windows")


def window_note(time_scale: float, tolerance: float) -> str:
    return f"real seconds at time scale {time_scale:g}; windows include the {tolerance * 1000:.1f} ms timing tolerance"
