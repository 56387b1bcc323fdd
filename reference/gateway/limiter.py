"""Admission control: N slots plus a bounded queue; request N+1 is told to come back later.

A request holds its slot until it ends, however it ends; `release` is told how (OK, ERROR,
TIMEOUT, DISCONNECT) only so a broken limiter can get one of them wrong.
"""

from __future__ import annotations

import asyncio

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.gateway.config import Limits

OK, ERROR, TIMEOUT, DISCONNECT = "ok", "error", "timeout", "disconnect"


class ConcurrencyLimiter:
    def __init__(self, limits: Limits, clock: ScaledClock) -> None:
        self.limits, self.clock = limits, clock
        self.active = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(self.slots)

    @property
    def slots(self) -> int:
        """Requests served at the same time; the rest of the capacity waits in the queue."""
        return self.limits.max_concurrent

    @property
    def capacity(self) -> int:
        return self.limits.max_concurrent + self.limits.max_queue

    def at_capacity(self) -> bool:
        return self.active + self.waiting >= self.capacity

    def rejection(self) -> ServiceError:
        return ServiceError(
            "SERVICE_UNAVAILABLE", "the gateway is at capacity",
            {"current_requests": self.active + self.waiting, "max_concurrent": self.limits.max_concurrent,
             "retry_after_seconds": self.limits.retry_after,
             "suggested_action": f"Retry after {self.limits.retry_after:g} seconds"})

    async def acquire(self) -> None:
        """A slot, after waiting in the queue if need be; refused at once beyond capacity."""
        if self.at_capacity():
            raise self.rejection()
        self.waiting += 1
        try:
            await self.wait_for_slot()
        finally:
            self.waiting -= 1
        self.active += 1

    async def wait_for_slot(self) -> None:
        await self._slots.acquire()

    def release(self, outcome: str) -> None:
        """The request that held a slot ended (`outcome`): its slot is free again."""
        self.active -= 1
        self._slots.release()
