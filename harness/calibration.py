"""The timing tolerance, measured on the machine the suite runs on rather than guessed, and
measured again and again while the suite runs (a machine gets busier as targets start).

A timed check compares an observed gap with a window; the observation carries the machine's
scheduling noise twice (the system under test waking up, and the fake stamping the arrival).
We time short sleeps plus a loopback round trip, take a high percentile of the overshoot, and
allow a multiple of it, never less than a floor.

The fakes stamp arrivals on the worker's event loop, and that loop can be held up far longer
than a sleeping thread (the worker's other threads holding the interpreter, the process waiting
for a core): 20-75 ms at a time on a 2-core machine running two suites, which a percentile of
thread sleeps never saw. So a probe on that loop times its own timers, and the worst lateness
it saw over the span a check judges is added to the tolerance: a stamp is at most that late.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from harness.run_queue import RunQueueWait

FLOOR = 0.020        # seconds: a busy 2-core runner wakes a Python process this late now and then
MULTIPLIER = 6.0     # room for both sides' wake-ups and an HTTP exchange at a gap's ends
SLEEP = 0.002        # the sleep whose overshoot is timed
SAMPLE_EVERY = 0.25  # seconds between two background samples
KEEP = 120           # samples the running tolerance is computed from: the last 30 s
LOOP_EVERY = 0.01    # seconds between two timers of the event-loop probe
LOOP_KEEP = 3000     # loop samples kept: the last 30 s
LOOP_LOOKBACK = 0.05  # seconds before a stamp in which a stall can still have delayed it (see LoopLateness.over)
LOOP_LOOKAHEAD = 1.5  # probe timers after a stamp whose stall can have delayed the answer to it (ditto)
PLANNING_QUANTILE = 0.99   # what a scenario's time scale is planned for (a worker's start-up stalls are not)


@dataclass(frozen=True)
class Calibration:
    overshoot_p95: float
    round_trip_p95: float
    tolerance: float
    loop_lateness: float = 0.0   # the worst lateness of the event loop's timers, included in `tolerance`
    target_wait: float = 0.0     # how long the implementation waited for a core, included in `tolerance`

    def describe(self) -> str:
        return (f"timing tolerance {self.tolerance * 1000:.1f} ms (sleep overshoot p95 "
                f"{self.overshoot_p95 * 1000:.2f} ms, loopback round trip p95 {self.round_trip_p95 * 1000:.2f} ms, "
                f"event loop up to {self.loop_lateness * 1000:.1f} ms late, implementation waited "
                f"{self.target_wait * 1000:.1f} ms for a core)")


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def from_samples(samples: Iterable[tuple[float, float]], loop_lateness: float = 0.0,
                 target_wait: float = 0.0) -> Calibration:
    """The tolerance some (sleep overshoot, round trip) samples give, plus the event loop's worst
    lateness over the span judged (a stamp that late adds to whatever the other side's noise is).

    `target_wait` is how long the implementation waited for a core around what is judged: it
    acted that much later. The FLOOR is the guess of such wake-up delays that nothing measured;
    a measured wait replaces it where it is larger, on top of the harness's own noise."""
    pairs = list(samples)
    overshoot = _percentile([o for o, _ in pairs], 95)
    round_trip = _percentile([r for _, r in pairs], 95)
    noise = max(FLOOR, MULTIPLIER * (overshoot + round_trip) + target_wait)
    return Calibration(overshoot, round_trip, noise + loop_lateness, loop_lateness, target_wait)


class Sampler:
    """One sleep overshoot and one loopback round trip per `sample()`, over a connection kept open."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self._echo = threading.Thread(target=self._serve, name="faultline-calibration-echo", daemon=True)
        self._echo.start()
        self._client = socket.create_connection(self._server.getsockname())

    def _serve(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        with conn:
            while data := conn.recv(64):
                conn.sendall(data)

    def sample(self) -> tuple[float, float]:
        start = time.perf_counter()
        time.sleep(SLEEP)
        overshoot = time.perf_counter() - start - SLEEP
        start = time.perf_counter()
        self._client.sendall(b"x")
        self._client.recv(64)
        return overshoot, time.perf_counter() - start

    def close(self) -> None:
        self._client.close()
        self._server.close()
        self._echo.join(1)


def calibrate(samples: int = 60) -> Calibration:
    sampler = Sampler()
    try:
        return from_samples(sampler.sample() for _ in range(samples))
    finally:
        sampler.close()


class LoopLateness:
    """Times the timers of the event loop it runs on (`run`, a task there): how late the loop
    got to them is how late anything it handled then, such as a fake's arrival stamp, can be."""

    def __init__(self, every: float = LOOP_EVERY, keep: int = LOOP_KEEP) -> None:
        self._every = every
        self._samples: deque[tuple[float, float]] = deque(maxlen=keep)   # (due, lateness)
        self._due: float | None = None      # the timer now waited on: a loop held up now has not fired it
        self._lock = threading.Lock()
        self.taken = 0

    async def run(self) -> None:
        while True:
            due = time.monotonic() + self._every
            with self._lock:
                self._due = due
            await asyncio.sleep(self._every)
            late = max(0.0, time.monotonic() - due)
            with self._lock:
                self._samples.append((due, late))
                self.taken += 1

    def typical_since(self, since: float, q: float = PLANNING_QUANTILE) -> float:
        """A high quantile of the lateness since `since`: what a scenario about to run should
        expect, without the rare stall (which its checks account for when they judge)."""
        with self._lock:
            lateness = sorted(late for due, late in self._samples if due >= since)
        return lateness[min(len(lateness) - 1, int(q * len(lateness)))] if lateness else 0.0

    def over(self, spans: Iterable[tuple[float, float]]) -> float:
        """The worst lateness of the stalls that overlap one of these (start, end) spans, such as
        an exchange the harness timed, or that ended shortly before one began: a request passes
        the proxy and the fake's server in several loop passes before it is stamped, so a stall
        just before its stamp still delays it (a late stamp by 38 ms against a 34 ms tolerance
        was seen with the stall not at the stamp itself). A stall long before or after cannot
        have lengthened what was measured. A stall that began just after a stamp counts too: the
        fake answers what it stamped after stamping it, and the implementation's next step (the
        start of a backoff) waits for that answer. It shows on the probe's next timer, due at most
        one `every` after the stamp (the likeliest cause of a correct hive's retry judged 50 ms
        late on a 22 ms window in a hog run of bench/flakes, when only earlier stalls counted). A stall
        still going on counts if it began before a span ended."""
        now = time.monotonic()
        with self._lock:
            samples = list(self._samples)
            pending = self._due
        dues = [due for due, _ in samples]
        longest = max((late for _, late in samples), default=0.0)
        worst = 0.0
        for start, end in spans:
            answered = end + LOOP_LOOKAHEAD * self._every
            index = bisect.bisect_right(dues, answered) - 1
            while index >= 0 and dues[index] >= start - longest - LOOP_LOOKBACK:
                due, late = samples[index]
                if start <= due + late + LOOP_LOOKBACK:
                    worst = max(worst, late)
                index -= 1
            if pending is not None and pending <= answered:
                worst = max(worst, now - pending)
        return worst

    def worst_since(self, since: float) -> float:
        """The worst lateness of the timers that came due since `since`, the one still waited on included."""
        now = time.monotonic()
        with self._lock:
            worst = max((late for due, late in self._samples if due >= since), default=0.0)
            pending = 0.0 if self._due is None else now - self._due
        return max(worst, pending)


class ToleranceMonitor:
    """Keeps measuring in a background thread; `current()` is the tolerance of the last 30 s.

    A check reads it when it judges, so a machine that got busier since the run began widens
    the windows it must, and the report shows the value each check used. Its `loop` probe
    measures the event loop the fakes run on, once started there."""

    def __init__(self, every: float = SAMPLE_EVERY, keep: int = KEEP) -> None:
        self.loop = LoopLateness()
        self.target = RunQueueWait()
        self._every = every
        self._sampler = Sampler()
        self._samples: deque[tuple[float, float]] = deque(maxlen=keep)
        self._samples.extend(self._sampler.sample() for _ in range(60))
        self._lock = threading.Lock()
        self.taken = 0           # background samples so far
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultline-tolerance-monitor", daemon=True)

    def __enter__(self) -> ToleranceMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.target.close()
        self._sampler.close()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            sample = self._sampler.sample()
            with self._lock:
                self._samples.append(sample)
                self.taken += 1

    def current(self, since: float | None = None) -> Calibration:
        """The tolerance now, with the event loop's worst lateness since `since` (a check passes
        the start of what it judges), or over the last 30 s."""
        samples, window_start = self._recent()
        return from_samples(samples, self.loop.worst_since(window_start if since is None else since))

    def over(self, spans: Iterable[tuple[float, float]]) -> Calibration:
        """The tolerance for a check that compares only times taken within these (start, end)
        spans: the fakes' stamps (a span of one instant) or the harness's own timed exchanges.
        The implementation's waits for a core count around them as well."""
        judged = list(spans)
        samples, _ = self._recent()
        return from_samples(samples, self.loop.over(judged), self.target.over(judged))

    def expected(self) -> Calibration:
        """The tolerance a scenario starting now plans its time scale for: the event loop's
        typical lateness of the last 30 s rather than its worst, and the typical wait for a core
        of the implementations watched then (no target runs yet when the scale is chosen: under a
        CPU hog a gateway planned without it waited 92.6 ms around its retries at scale 0.53 and
        its jitter check could not decide)."""
        samples, window_start = self._recent()
        return from_samples(samples, self.loop.typical_since(window_start),
                            self.target.typical_since(window_start, PLANNING_QUANTILE))

    def _recent(self) -> tuple[list[tuple[float, float]], float]:
        with self._lock:
            samples = list(self._samples)
        return samples, time.monotonic() - self._every * len(samples)
