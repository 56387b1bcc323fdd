"""Admission control: N slots plus a bounded queue; request N+1 is told to come back later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reference.common.errors import ServiceError
from reference.gateway.config import Limits


class ConcurrencyLimiter:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.active = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(limits.max_concurrent)

    @property
    def capacity(self) -> int:
        return self.limits.max_concurrent + self.limits.max_queue

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.active + self.waiting >= self.capacity:
            raise ServiceError(
                "SERVICE_UNAVAILABLE", "the gateway is at capacity",
                {"current_requests": self.active + self.waiting, "max_concurrent": self.limits.max_concurrent,
                 "retry_after_seconds": self.limits.retry_after,
                 "suggested_action": f"Retry after {self.limits.retry_after:g} seconds"})
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()
