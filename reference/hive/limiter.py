"""Admission to workers: each ready worker has N slots, plus one bounded queue for the whole hive.

Capacity = free-or-busy slots of the workers that can serve the model + max_queue. Request
capacity+1 is turned away at once with 503 and Retry-After (seed 000 Pattern 8).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from reference.common.errors import ServiceError
from reference.hive.codes import NO_WORKERS, hive_error
from reference.hive.config import Limits
from reference.hive.validation import ModelRef
from reference.hive.workers import Worker


class SlotLimiter:
    def __init__(self, limits: Limits, workers: Callable[[], list[Worker]]) -> None:
        self.limits, self._workers = limits, workers
        self.waiting = 0
        self._changed = asyncio.Condition()

    def candidates(self, model: ModelRef | None) -> list[Worker]:
        return [w for w in self._workers() if w.routable and (model is None or w.request.model == model)]

    def capacity(self, workers: list[Worker]) -> int:
        return sum(w.slots_total for w in workers) + self.limits.max_queue

    def changed(self) -> None:
        """Something freed a slot or a worker came or went: waiters look again."""
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _busy(self, model: ModelRef | None) -> ServiceError:
        workers = self.candidates(model)
        wait = self.limits.retry_after
        current = sum(w.active for w in workers) + self.waiting
        what = "every worker slot and the queue are taken" if workers else "no worker is ready for this model"
        return hive_error(NO_WORKERS, f"the hive is at capacity: {what}",
                          {"current_requests": current,
                           "max_concurrent": self.capacity(workers) if workers else 0,
                           "retry_after_seconds": wait,
                           "suggested_action": f"Retry after {wait:g} seconds or spawn another worker"})

    def _free(self, model: ModelRef | None) -> Worker | None:
        free = [w for w in self.candidates(model) if w.active < w.slots_total]
        return min(free, key=lambda w: w.active) if free else None

    @asynccontextmanager
    async def slot(self, model: ModelRef | None) -> AsyncIterator[Worker]:
        workers = self.candidates(model)
        in_use = sum(w.active for w in workers) + self.waiting
        if not workers or in_use >= self.capacity(workers):
            raise self._busy(model)
        worker = self._free(model)
        if worker is None:
            self.waiting += 1
            try:
                async with self._changed:
                    while (worker := self._free(model)) is None:
                        if not self.candidates(model):
                            raise self._busy(model)
                        await self._changed.wait()
            finally:
                self.waiting -= 1
        worker.active += 1
        try:
            yield worker
        finally:
            worker.active -= 1
            self.changed()
