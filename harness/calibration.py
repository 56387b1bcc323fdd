"""The timing tolerance, measured on the machine the suite runs on rather than guessed, and
measured again and again while the suite runs (a machine gets busier as targets start).

A timed check compares an observed gap with a window; the observation carries the machine's
scheduling noise twice (the system under test waking up, and the fake stamping the arrival).
We time short sleeps plus a loopback round trip, take a high percentile of the overshoot, and
allow a multiple of it, never less than a floor.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

FLOOR = 0.020        # seconds: a busy 2-core runner wakes a Python process this late now and then
MULTIPLIER = 6.0     # room for both sides' wake-ups and an HTTP exchange at a gap's ends
SLEEP = 0.002        # the sleep whose overshoot is timed
SAMPLE_EVERY = 0.25  # seconds between two background samples
KEEP = 120           # samples the running tolerance is computed from: the last 30 s


@dataclass(frozen=True)
class Calibration:
    overshoot_p95: float
    round_trip_p95: float
    tolerance: float

    def describe(self) -> str:
        return (f"timing tolerance {self.tolerance * 1000:.1f} ms (sleep overshoot p95 "
                f"{self.overshoot_p95 * 1000:.2f} ms, loopback round trip p95 {self.round_trip_p95 * 1000:.2f} ms)")


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def from_samples(samples: Iterable[tuple[float, float]]) -> Calibration:
    """The tolerance some (sleep overshoot, round trip) samples give."""
    pairs = list(samples)
    overshoot = _percentile([o for o, _ in pairs], 95)
    round_trip = _percentile([r for _, r in pairs], 95)
    return Calibration(overshoot, round_trip, max(FLOOR, MULTIPLIER * (overshoot + round_trip)))


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


class ToleranceMonitor:
    """Keeps measuring in a background thread; `current()` is the tolerance of the last 30 s.

    A check reads it when it judges, so a machine that got busier since the run began widens
    the windows it must, and the report shows the value each check used."""

    def __init__(self, every: float = SAMPLE_EVERY, keep: int = KEEP) -> None:
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
        self._sampler.close()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            sample = self._sampler.sample()
            with self._lock:
                self._samples.append(sample)
                self.taken += 1

    def current(self) -> Calibration:
        with self._lock:
            samples = list(self._samples)
        return from_samples(samples)
