"""The implementation's waits for a core (harness.run_queue), measured on real processes: one
that shares its only core with another busy process waits, one that sleeps does not, and a wait
counts only near the stamps a check compares."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.calibration import FLOOR, ToleranceMonitor, from_samples
from harness.run_queue import NEAR, RunQueueWait, run_queue_wait

pytestmark = pytest.mark.skipif(run_queue_wait(os.getpid()) is None, reason="the kernel reports no run-queue waits")

BUSY = "print(flush=True)\nwhile True: pass"
IDLE = "import time; print(flush=True); time.sleep(60)"


@contextmanager
def process(code: str, cpu: int) -> Iterator[int]:
    """A Python process on one core only, past its start-up (which waits for the core too), stopped
    (by its pid, it is ours) when the block ends."""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        os.sched_setaffinity(child.pid, {cpu})
        assert child.stdout is not None
        child.stdout.readline()
        yield child.pid
    finally:
        child.kill()
        child.wait()


def measure(pid: int, seconds: float) -> tuple[RunQueueWait, float, float]:
    probe = RunQueueWait()
    try:
        with probe.watching(pid):
            began = time.monotonic()
            time.sleep(seconds)
            ended = time.monotonic()
            probe.sample()
        return probe, began, ended
    finally:
        probe.close()


def test_a_process_sharing_its_core_with_a_busy_one_is_seen_waiting() -> None:
    cpu = min(os.sched_getaffinity(0))
    with process(BUSY, cpu), process(BUSY, cpu) as watched:
        probe, began, ended = measure(watched, 0.5)
    # two busy processes on one core: each waits about half the time
    assert probe.over([(began, ended)]) > 0.1


def test_a_sleeping_process_waits_for_nothing() -> None:
    cpu = min(os.sched_getaffinity(0))
    with process(BUSY, cpu), process(IDLE, cpu) as watched:
        probe, began, ended = measure(watched, 0.3)
    assert probe.over([(began, ended)]) < 0.005


def test_a_wait_counts_only_near_a_stamp() -> None:
    probe = RunQueueWait()
    probe.record(10.00, 10.01, 0.004)
    probe.record(10.01, 10.02, 0.006)
    probe.record(12.00, 12.01, 0.050)          # long after: it delayed neither stamp
    assert probe.over([(10.015, 10.015)]) == pytest.approx(0.010)
    assert probe.over([(10.02 + NEAR + 0.001, 10.02 + NEAR + 0.001)]) == 0.0
    # two stamps: the one with the most waiting around it
    assert probe.over([(10.015, 10.015), (12.005, 12.005)]) == pytest.approx(0.050)


def test_a_wait_replaces_the_floor_where_larger_on_top_of_the_harnesss_own_noise() -> None:
    quiet = [(0.0001, 0.00002)] * 50                   # 0.7 ms of noise: the floor applies
    assert from_samples(quiet).tolerance == FLOOR
    assert from_samples(quiet, target_wait=FLOOR / 2).tolerance == FLOOR
    assert from_samples(quiet, target_wait=FLOOR).tolerance == pytest.approx(FLOOR + 6 * 0.00012)
    assert from_samples(quiet, 0.010, FLOOR).tolerance == pytest.approx(FLOOR + 6 * 0.00012 + 0.010)


def test_a_check_of_stamps_counts_the_implementations_wait() -> None:
    with ToleranceMonitor() as monitor:
        monitor.target.record(19.99, 20.0, 0.030)
        monitor.target.record(20.0, 20.01, 0.020)
        judged = monitor.over([(20.0, 20.0)])
    assert judged.target_wait == pytest.approx(0.050)
    assert judged.tolerance >= 0.050


def test_a_scenario_plans_for_the_waits_typical_of_recent_windows() -> None:
    probe = RunQueueWait()
    for index in range(100):                    # 10 ms samples: a steady 1 ms each, one burst of 40 ms
        began = 10.0 + index * 0.01
        probe.record(began, began + 0.01, 0.040 if index == 50 else 0.001)
    windows = 2 * NEAR / 0.01                   # samples summed in one window around a stamp
    assert probe.typical_since(10.0, 0.5) == pytest.approx(0.001 * windows, abs=0.0011)
    assert probe.typical_since(10.0, 1.0) == pytest.approx(0.040 + 0.001 * (windows - 1), abs=0.0011)
    assert probe.typical_since(10.6, 1.0) == pytest.approx(0.001 * windows, abs=0.0011)   # the burst is older
    assert RunQueueWait().typical_since(0.0, 0.99) == 0.0
    late = RunQueueWait()                       # a sample taken late spans more than a window
    late.record(10.0, 10.5, 0.200)
    late.record(10.5, 10.51, 0.001)
    assert late.typical_since(10.0, 1.0) == pytest.approx(0.201)
    late.record(10.51, 11.0, 0.300)             # the last one too
    assert late.typical_since(10.0, 1.0) == pytest.approx(0.300)


def test_a_busy_implementation_raises_the_tolerance_a_scenario_plans_for() -> None:
    with ToleranceMonitor() as monitor:
        quiet = monitor.expected()
        now = time.monotonic()
        for index in range(100):
            monitor.target.record(now - 1 + index * 0.01, now - 1 + (index + 1) * 0.01, 0.005)
        busy = monitor.expected()
    assert busy.target_wait == pytest.approx(0.005 * 2 * NEAR / 0.01, abs=0.0051)
    assert busy.tolerance > quiet.tolerance
