"""Bounded waits on observable conditions: the only way steps and the harness wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.errors import WaitTimeout

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
    """A breaker cooldown the harness waited out, in real seconds: from the request that opened
    the breaker until `seconds` (the scaled spec cooldown) plus `tolerance` had passed."""

    opened_at: float
    seconds: float
    tolerance: float

    @property
    def ends_at(self) -> float:
        return self.opened_at + self.seconds


def wait_out_cooldown(request_times: Sequence[float], seconds: float, tolerance: float, upstream: str) -> Cooldown:
    """Wait until `seconds` plus `tolerance` have passed since the last request `upstream` saw
    (the failure that opened its breaker)."""
    assert request_times, f"{upstream} never received a request, so its breaker cannot have opened"
    cooldown = Cooldown(request_times[-1], seconds, tolerance)
    ready_at = cooldown.ends_at + tolerance
    wait_until(lambda: time.monotonic() >= ready_at, timeout=seconds + tolerance + 1.0,
               what=f"the breaker cooldown of {upstream}")
    return cooldown
