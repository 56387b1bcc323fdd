"""Requests a scenario leaves running while it goes on, each in a thread of its own."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class InFlight(Generic[T]):
    """One request running in the background; `wait` hands over its outcome or its failure."""

    thread: threading.Thread
    result: list[T] = field(default_factory=list)
    failure: list[BaseException] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.thread.is_alive()

    def wait(self, timeout: float) -> T:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"request still running after {timeout:g}s")
        if self.failure:
            raise self.failure[0]
        return self.result[0]


def in_background(work: Callable[[], T]) -> InFlight[T]:
    flight: InFlight[T] = InFlight(threading.Thread(daemon=True))

    def run() -> None:
        try:
            flight.result.append(work())
        except BaseException as exc:  # handed to the waiting step, which reports it
            flight.failure.append(exc)

    context = contextvars.copy_context()   # the scenario's client patience goes along
    flight.thread = threading.Thread(target=context.run, args=(run,), daemon=True, name="in-flight-request")
    flight.thread.start()
    return flight
