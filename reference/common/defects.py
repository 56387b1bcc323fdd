"""A defect: one deliberately broken component, and the clauses it must be caught breaking."""

from __future__ import annotations

import asyncio
import random
import weakref

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

C = TypeVar("C")

NO_JITTER_ACROSS_CALLS = r"no jitter across calls"   # how the harness's jitter check fails (harness.jitter)
SAME_JITTER_WITHIN_CALLS = r"the same jitter at every retry of a call"   # and how its within-call test does


@dataclass(frozen=True)
class Defect(Generic[C]):
    description: str
    clauses: tuple[str, ...]
    components: C
    assertion: str = ""     # a regex the catching scenario's failure message must match: the check meant to catch it
    # What the defect's readiness route answers once it is up, when that is not the target file's
    # status (a health route behind the token): its defect run's target file says so, as the
    # target file of such an implementation would, so that it starts and its scenarios judge it.
    readiness_status: int | None = None


def components_for(defects: Mapping[str, Defect[C]], name: str | None, clean: Callable[[], C]) -> C:
    """The components to start with: the clean set, or the named defect's."""
    if name is None:
        return clean()
    if name not in defects:
        raise ValueError(f"unknown defect {name!r}; known: {', '.join(sorted(defects))}")
    return defects[name].components


JITTER_SEED = 20261202


class SeededPerCall(random.Random):
    """The jitter a retry loop draws when every call makes its own random.Random(JITTER_SEED):
    random-looking, but each call (each asyncio task running a retry loop) gets the same sequence."""

    def __init__(self) -> None:
        super().__init__(JITTER_SEED)
        self._per_call: weakref.WeakKeyDictionary[asyncio.Task[Any], random.Random] = weakref.WeakKeyDictionary()

    def random(self) -> float:
        task = asyncio.current_task()
        if task is None:
            return super().random()
        if task not in self._per_call:
            self._per_call[task] = random.Random(JITTER_SEED)
        return self._per_call[task].random()


class DrawnOncePerCall(random.Random):
    """The jitter a retry loop draws once, before its first retry, and reuses at every retry: each
    call (each asyncio task running a retry loop) its own random factor, the same at all its retries."""

    def __init__(self) -> None:
        super().__init__()
        self._per_call: weakref.WeakKeyDictionary[asyncio.Task[Any], float] = weakref.WeakKeyDictionary()

    def random(self) -> float:
        task = asyncio.current_task()
        if task is None:
            return super().random()
        if task not in self._per_call:
            self._per_call[task] = super().random()
        return self._per_call[task]
