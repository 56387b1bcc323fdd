"""One machine, shared by the xdist workers of a `make test` run.

Most tests share it. A test marked `quiet_machine` (a defect caught by the retry jitter check)
has it to itself while it runs: another worker's burst of work delayed a target's retries by
40 to 75 ms in CI, past the measured tolerance, so a fixed "jitter" seemed to vary and failed
"came too late" instead of "no jitter across calls".

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
