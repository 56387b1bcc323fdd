"""One machine, shared by the xdist workers of a `make test` run.

Most tests share it. A test marked `quiet_machine` has it to itself while it runs: the defect
runs caught by the retry jitter check, and the tests that run a whole profile against a clean
reference and expect no check to fail. Another worker's burst of process start-ups delays a
target's requests by 30 to 75 ms now and then, in bursts shorter than the timing tolerance's
sampling sees (`harness.calibration`): in CI a fixed "jitter" so seemed to vary and failed "came
too late" instead of "no jitter across calls", and in a fresh-clone run a running gateway's
3 s Retry-After wait came 51 ms late against a 20 ms tolerance. Alone, these runs are what
bench/flakes measures: 0 failures in 20 full runs, 10 of them beside a CPU hog.

A readers-writer lock of two flock(2) files in the run's temp root, which pytest's retention
removes with it: a turnstile every test passes and a waiting exclusive holder keeps, so a stream
of shared holders cannot starve it. Outside xdist there is no other worker and nothing to take.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

QUIET_MACHINE = "quiet_machine"
quiet_machine = getattr(pytest.mark, QUIET_MACHINE)


@contextmanager
def _flocked(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as file:
        fcntl.flock(file, mode)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextmanager
def machine_share(root: Path, exclusive: bool) -> Iterator[None]:
    """Hold the machine, shared or to oneself, for the body."""
    lock = root / "machine-share.lock"
    with _flocked(root / "machine-share.turnstile", fcntl.LOCK_EX):
        held = lock.open("a")
        fcntl.flock(held, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(held, fcntl.LOCK_UN)
        held.close()


@pytest.fixture(autouse=True)
def _share_the_machine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    quiet = request.node.get_closest_marker(QUIET_MACHINE) is not None
    # A worker's base temp dir is one per worker under the run's: the parent is common to the run.
    with machine_share(tmp_path_factory.getbasetemp().parent, quiet):
        yield
