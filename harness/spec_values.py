"""The numbers DESIGN §2 fixes, in spec seconds; a target's time scale turns them into real time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeoutCascade:
    request: float = 30.0
    upstream: float = 25.0     # gateway: upstream; hive: inference
    cleanup: float = 5.0


@dataclass(frozen=True)
class BreakerValues:
    threshold: int = 5
    cooldown: float = 60.0


TIMEOUTS = TimeoutCascade()
BREAKER = BreakerValues()
GATEWAY_MAX_ATTEMPTS = 6
GATEWAY_RETRY_AFTER_CAP = 60.0
GATEWAY_RETRY_BUDGET = 120.0
HIVE_MAX_ATTEMPTS = 6        # one first attempt and five retries
HIVE_RETRY_CYCLE = 36.0      # spec seconds a download failing every attempt may take: 1+2+4+8+16 s, 5 x 1 s jitter
