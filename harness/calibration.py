"""The timing tolerance, measured on the machine the suite runs on rather than guessed.

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
from dataclasses import dataclass

FLOOR = 0.020        # seconds: a busy 2-core runner wakes a Python process this late now and then
MULTIPLIER = 6.0     # room for both sides' wake-ups and an HTTP exchange at a gap's ends


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


def _round_trips(samples: int) -> list[float]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(64):
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    times = []
    with socket.create_connection(server.getsockname()) as client:
        for _ in range(samples):
            start = time.perf_counter()
            client.sendall(b"x")
            client.recv(64)
            times.append(time.perf_counter() - start)
    server.close()
    thread.join(1)
    return times


def calibrate(samples: int = 60) -> Calibration:
    overshoots = []
    for _ in range(samples):
        start = time.perf_counter()
        time.sleep(0.002)
        overshoots.append(time.perf_counter() - start - 0.002)
    overshoot = _percentile(overshoots, 95)
    round_trip = _percentile(_round_trips(samples), 95)
    return Calibration(overshoot, round_trip, max(FLOOR, MULTIPLIER * (overshoot + round_trip)))
