"""Which hub failures are worth another attempt (seed 000 Pattern 1, DESIGN §2).

    retry:  connection refused / reset, a timeout (the hub stalled), 408, 429, every 5xx
    never:  every other 4xx (a missing model does not appear by asking again)
The breaker counts the same failures: a client error says nothing about the hub's health.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSIENT_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class Verdict:
    retryable: bool
    counts_against_breaker: bool


class Classifier:
    def status(self, status: int) -> Verdict:
        transient = status >= 500 or status in TRANSIENT_4XX
        return Verdict(retryable=transient, counts_against_breaker=transient)

    def connection_failure(self) -> Verdict:
        return Verdict(retryable=True, counts_against_breaker=True)

    def timeout(self) -> Verdict:
        """An attempt the hub left unanswered (connect, read or whole-attempt timeout)."""
        return self.connection_failure()
