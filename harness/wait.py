"""Bounded waits on observable conditions: the only way steps and the harness wait."""

from __future__ import annotations

import time
from collections.abc import Callable
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
