"""The hub retry schedule: after attempt n fails, wait initial * multiplier**(n-1) + U[0, jitter_max].

With the defaults: 1, 2, 4, 8, 16 s, each plus up to 1 s; one first attempt and at most five retries.
"""

from __future__ import annotations

import random

from reference.hive.config import RetrySettings


class RetryPolicy:
    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()

    @property
    def max_attempts(self) -> int:
        return self.settings.max_retries + 1

    def base_delay(self, retry: int) -> float:
        s = self.settings
        return float(s.initial * s.multiplier ** (retry - 1))

    def jitter(self) -> float:
        return self.rng.uniform(0.0, self.settings.jitter_max)

    def delay(self, retry: int) -> float:
        """Spec seconds before retry number `retry` (1-based)."""
        return self.base_delay(retry) + self.jitter()

    def should_retry(self, failed_attempt: int) -> bool:
        return failed_attempt < self.max_attempts

    def retries_breaker_rejection(self, rejection: int, cooling_down: bool) -> bool:
        """A call the breaker rejected (rejection number `rejection`; `cooling_down` when it is
        open rather than half-open with its trial out) fails at once: the client is told the
        cooldown left, and waiting it out here would only hold the call."""
        return False
