"""What each kind of timed check must resolve, in spec seconds, from the clauses' own numbers.

A check's distinction is the smallest violation it must catch (harness.timing); these are the
ones DESIGN §2 and §6 imply. docs/timing.md explains each.
"""

from __future__ import annotations

from harness.schedule import BackoffSchedule
from harness.spec_values import BREAKER, GATEWAY_RETRY_BUDGET, TIMEOUTS
from harness.timing import AT_ONCE, Distinction, WorkBound

UPSTREAM_TIMEOUT = Distinction(TIMEOUTS.request - TIMEOUTS.upstream,
                               f"an upstream timeout of {TIMEOUTS.upstream:g} s against the "
                               f"{TIMEOUTS.request:g} s request timeout")
CLEANUP_TIMEOUT = Distinction(TIMEOUTS.cleanup, f"the {TIMEOUTS.cleanup:g} s cleanup timeout")
# Letting go of a connection within the cleanup timeout: the implementation notices a hang-up or
# a failure and closes what it held, and the peer (a fake, a worker) records the close; a chain of
# three processes (stopping one that hangs), which a loaded machine delays by a few hundred real
# milliseconds now and then.
CLEANUP_WORK_FLOOR = 0.75   # real seconds
CLEANUP = WorkBound(CLEANUP_TIMEOUT, TIMEOUTS.cleanup, CLEANUP_WORK_FLOOR)
# Shutting down within the cleanup timeout: stopping every worker, then the service's own exit
# (signals, exits, reaping, an interpreter's teardown) cost a Python service a few hundred real
# milliseconds, more on a loaded machine.
SHUTDOWN_WORK_FLOOR = 2.0   # real seconds
SHUTDOWN = WorkBound(CLEANUP_TIMEOUT, TIMEOUTS.cleanup, SHUTDOWN_WORK_FLOOR)
AT_ONCE_ANSWER = Distinction(AT_ONCE, f"an answer at once (within {AT_ONCE:g} spec s) from one after a wait")
RETRY_AFTER_SECONDS = Distinction(1.0, "a Retry-After in whole seconds")
BREAKER_LATE_PROBE = 5.0   # spec seconds before the cooldown's end at which a call must still be rejected
BREAKER_COOLDOWN = Distinction(BREAKER_LATE_PROBE, f"the last {BREAKER_LATE_PROBE:g} s of the "
                                                   f"{BREAKER.cooldown:g} s breaker cooldown")


def retry_budget(hints: list[float]) -> Distinction:
    """Retry-After hints that end their waits close to the budget pin it: the nearest end is the
    margin the implementation has, and each wait before it adds the implementation's own
    overhead (about one tolerance) to its elapsed time, which must stay well inside that margin."""
    ends = [sum(hints[:n]) for n in range(1, len(hints) + 1)]
    waits, margin = min(((n, abs(end - GATEWAY_RETRY_BUDGET)) for n, end in enumerate(ends, start=1)),
                        key=lambda pair: pair[1])
    return Distinction(margin / waits, f"the {GATEWAY_RETRY_BUDGET:g} s retry budget, {margin:g} s from where "
                                       f"{waits} Retry-After waits end")


# The gateway's first retry waits at least 0.9 s: a failed attempt's connection still open when the
# next attempt's opens was held at least that long past its end.
CONNECTION_HELD = Distinction(0.9, "a failed attempt's connection held into the next attempt (0.9 s after it)")


def backoff_schedule(schedule: BackoffSchedule) -> Distinction:
    """Backoff errors are relative (a wrong multiplier, initial delay or cap): resolving 10 % of
    the longest delay resolves them; shorter delays are judged with the same absolute widening."""
    longest = schedule.base(schedule.max_attempts - 1)
    return Distinction(0.1 * longest, f"10 % of the longest backoff delay ({longest:g} s)")


def retry_after_hint(seconds: float) -> Distinction:
    """A hint is waited at least in full and at most 10 % longer (DESIGN §6)."""
    return Distinction(0.1 * seconds, f"10 % of a {seconds:g} s Retry-After")
