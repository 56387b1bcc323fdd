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


class HalfOpensAfter50s(CircuitBreaker):
    """Half-opens after a hard-coded 50 s, while its Retry-After still counts down the configured
    60 s cooldown: a call 55 s after opening reaches the upstream as the trial."""

    HALF_OPEN_AFTER = 50.0

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return State.CLOSED
        if self.clock.now() - self.opened_at >= self.HALF_OPEN_AFTER:
            return State.HALF_OPEN
        return State.OPEN


class ConstantRetryAfter(CircuitBreaker):
    """Rejects while open as it should, but always says the full cooldown is left."""

    def admit(self) -> Admission:
        admission = super().admit()
        return admission if admission.allowed else Admission(False, retry_after=self.settings.cooldown)


def one_shared_breaker() -> Callable[[BreakerSettings, ScaledClock], CircuitBreaker]:
    """A factory handing every upstream the same breaker, so one upstream's failures open it for all."""
    shared: list[CircuitBreaker] = []

    def make(settings: BreakerSettings, clock: ScaledClock) -> CircuitBreaker:
        if not shared:
            shared.append(CircuitBreaker(settings, clock))
        return shared[0]
    return make
