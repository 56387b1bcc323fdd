"""Broken circuit breakers shared by both references' defect catalogues."""

from __future__ import annotations

from collections.abc import Callable

from reference.common.breaker import Admission, BreakerSettings, CircuitBreaker, State
from reference.common.clock import ScaledClock


class NeverHalfOpens(CircuitBreaker):
    @property
    def state(self) -> State:
        return State.CLOSED if self.opened_at is None else State.OPEN


class HalfOpenLetsAllThrough(CircuitBreaker):
    def admit(self) -> Admission:
        admission = super().admit()
        if not admission.allowed and self.state is State.HALF_OPEN:
            return Admission(True, trial=True)
        return admission


class SuccessKeepsCount(CircuitBreaker):
    """A success closes the breaker but leaves the consecutive-failure count where it was."""

    def succeeded(self, admission: Admission) -> None:
        failures = self.failures
        super().succeeded(admission)
        self.failures = failures


def one_shared_breaker() -> Callable[[BreakerSettings, ScaledClock], CircuitBreaker]:
    """A factory handing every upstream the same breaker, so one upstream's failures open it for all."""
    shared: list[CircuitBreaker] = []

    def make(settings: BreakerSettings, clock: ScaledClock) -> CircuitBreaker:
        if not shared:
            shared.append(CircuitBreaker(settings, clock))
        return shared[0]
    return make
