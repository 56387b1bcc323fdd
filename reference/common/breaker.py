"""A circuit breaker per upstream (seed 000 Pattern 2): the hub for the hive, each provider for the gateway.

closed --threshold consecutive failed operations--> open --cooldown--> half-open --one trial-->
    success: closed          failure: open for another cooldown
An operation is one upstream call with all its retries. While half-open only the trial passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reference.common.clock import ScaledClock


@dataclass(frozen=True)
class BreakerSettings:
    threshold: int = 5
    cooldown: float = 60.0


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after: float = 0.0        # spec seconds until a call may pass, when rejected
    trial: bool = False


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings, clock: ScaledClock) -> None:
        self.settings, self.clock = settings, clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return State.CLOSED
        if self.clock.now() - self.opened_at >= self.settings.cooldown:
            return State.HALF_OPEN
        return State.OPEN

    def admit(self) -> Admission:
        state = self.state
        if state is State.CLOSED:
            return Admission(True)
        if state is State.HALF_OPEN and not self.trial_running:
            self.trial_running = True
            return Admission(True, trial=True)
        if state is State.HALF_OPEN:
            # The trial is still out; its outcome decides, so the wait is unknown: one cooldown at most.
            return Admission(False, retry_after=self.settings.cooldown)
        assert self.opened_at is not None
        remaining = self.settings.cooldown - (self.clock.now() - self.opened_at)
        return Admission(False, retry_after=max(remaining, 0.0))

    def succeeded(self, admission: Admission) -> None:
        self.failures, self.opened_at = 0, None
        if admission.trial:
            self.trial_running = False

    def failed(self, admission: Admission) -> None:
        if admission.trial:
            self.trial_running = False
            self.opened_at = self.clock.now()
            return
        self.failures += 1
        if self.failures >= self.settings.threshold and self.opened_at is None:
            self.opened_at = self.clock.now()

    def attempt_failed(self, admission: Admission) -> bool:
        """One attempt of an operation failed; whether the operation may go on retrying. The
        breaker counts operations, not attempts, so a retry schedule is never cut short."""
        return True

    def neutral(self, admission: Admission) -> None:
        """An operation that says nothing about the upstream's health (a client error, a cancelled call)."""
        if admission.trial:
            self.trial_running = False
