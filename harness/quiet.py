"""A scenario run again because its checks could not decide first waits for a machine quiet
enough for them.

Where a scenario's scale cannot rise to what its checks need (a target at time scale 1, a
running url target, an @slow scenario), only a quieter machine decides them. At time scale 1
the run starts many scenarios at once, and a correct gateway's 3 s Retry-After gap could not be
told from 3.3 s with the 167-271 ms tolerance measured in that burst, while 76 ms was measured
a little later. So the second run starts once the tolerance the planner expects lets every
timed check of the scenario decide at its scale (with the planning margin), or after
QUIET_PATIENCE: the tolerance monitor's window, by which a burst has left its samples. The
wait is bounded and reported; the second run judges with what it measures, as any run does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.calibration import SAMPLE_EVERY
from harness.errors import WaitTimeout
from harness.timing import Resolution, decides_at
from harness.wait import wait_until

QUIET_PATIENCE = 30.0   # seconds: the span the tolerance monitor keeps (calibration.KEEP samples)


@dataclass(frozen=True)
class QuietWait:
    seconds: float      # how long the second run waited
    tolerance: float    # the tolerance expected when it started
    quiet: bool         # whether the machine was quiet enough by then

    def describe(self) -> str:
        how = "the machine was quiet enough" if self.quiet else "the machine was still too busy"
        return (f"it started after {self.seconds:.1f} s, when {how} (expected tolerance "
                f"{self.tolerance * 1000:.1f} ms)")


def wait_for_quiet(expected_tolerance: Callable[[], float], scale: float, resolutions: Sequence[Resolution],
                   patience: float = QUIET_PATIENCE) -> QuietWait:
    """Wait, at most `patience` s, until every check in `resolutions` could decide at `scale`
    with the tolerance expected now."""
    start = time.monotonic()
    seen: list[float] = []

    def quiet() -> bool:
        seen.append(expected_tolerance())
        return decides_at(scale, resolutions, seen[-1])

    try:
        wait_until(quiet, timeout=patience, interval=SAMPLE_EVERY, what="a machine quiet enough to decide")
        return QuietWait(time.monotonic() - start, seen[-1], True)
    except WaitTimeout:
        return QuietWait(time.monotonic() - start, seen[-1], False)
