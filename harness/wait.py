"""Bounded waits on observable conditions: the only way steps and the harness wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.errors import WaitTimeout
from harness.spec_values import BREAKER
from harness.timing import Clock

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str,
               interval: float = 0.01, describe: Callable[[], str] | None = None) -> T:
    """Poll `condition` until it returns something truthy; raise WaitTimeout after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, describe() if describe else "")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@dataclass(frozen=True)
class Cooldown:
    """A breaker cooldown the harness waited out, in real seconds. The breaker opened somewhere
    between `opened_at` (the upstream's last request, the failure that opened it) and `opened_by`
    (the client's receipt of that call's answer): the implementation's own processing, which a
    loaded machine can stretch well past the timing tolerance, lies in between."""

    opened_at: float
    seconds: float
    tolerance: float
    opened_by: float | None = None

    @property
    def ends_at(self) -> float:
        """The earliest the cooldown can end."""
        return self.opened_at + self.seconds

    @property
    def surely_over_at(self) -> float:
        """When the cooldown has surely ended, however late in the window the breaker opened."""
        return max(self.opened_at, self.opened_by or self.opened_at) + self.seconds + self.tolerance


def wait_until_instant(at: float, what: str) -> None:
    """Wait until time.monotonic() reaches `at` (at once when it has): an instant a clause fixes,
    such as a probe shortly before a cooldown's earliest end."""
    wait_until(lambda: time.monotonic() >= at, timeout=max(0.0, at - time.monotonic()) + 1.0, what=what)


def wait_out_cooldown(request_times: Sequence[float], clock: Clock, upstream: str,
                      answered_at: float | None = None) -> Cooldown:
    """Wait until the breaker `upstream`'s last request opened has surely cooled down: the
    cooldown plus the tolerance after the client received the answer to that call
    (`answered_at`), or after the request itself when no answer time is known."""
    assert request_times, f"{upstream} never received a request, so its breaker cannot have opened"
    cooldown = Cooldown(request_times[-1], clock.real(BREAKER.cooldown), clock.tolerance, answered_at)
    wait_until_instant(cooldown.surely_over_at, what=f"the breaker cooldown of {upstream}")
    return cooldown
