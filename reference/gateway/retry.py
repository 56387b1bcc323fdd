"""The retry policy: exponential delays with +/-10 % jitter, a 2-minute budget, and Retry-After.

delay_n = min(initial * multiplier**(n-1), cap) * U[1 - jitter, 1 + jitter]   (n = 1 for the first retry)
`retry-after-ms` wins over `retry-after`; a hint up to the cap is waited instead of the computed
delay; a longer hint ends the retries.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from reference.gateway.config import RetrySettings


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0                    # spec seconds to wait before the next attempt
    retry_after: float | None = None      # the upstream's hint, when it ended the retries


def retry_after_hint(headers: Mapping[str, str]) -> float | None:
    """Seconds the upstream asked for, or None. Values are spec seconds (scaled like everything)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class RetryPolicy:
    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()

    @property
    def max_attempts(self) -> int:
        return self.settings.max_attempts

    def computed_delay(self, retry: int) -> float:
        s = self.settings
        base = min(s.initial * s.multiplier ** (retry - 1), s.cap)
        return base * self.rng.uniform(1 - s.jitter, 1 + s.jitter)

    def after_breaker_rejection(self, rejection: int, elapsed: float, cooling_down: bool) -> RetryDecision:
        """A call every provider's breaker rejected (rejection number `rejection`, `elapsed` spec
        seconds into the call; `cooling_down` when every one is open rather than half-open with its
        trial out) fails at once: the client is told the cooldown left, and waiting it out here
        would only hold the call for nothing."""
        return RetryDecision(False)

    def decide(self, attempt: int, elapsed: float, headers: Mapping[str, str]) -> RetryDecision:
        """After failed attempt number `attempt` (1-based) at `elapsed` spec seconds: again, and when?"""
        s = self.settings
        hint = retry_after_hint(headers)
        if hint is not None and hint > s.retry_after_cap:
            return RetryDecision(False, retry_after=hint)
        if attempt >= s.max_attempts:
            return RetryDecision(False)
        delay = hint if hint is not None else self.computed_delay(attempt)
        if elapsed + delay > s.budget:
            return RetryDecision(False)
        return RetryDecision(True, delay)
