"""Probing an open breaker: calls made during its cooldown, and what each must show.

The breaker opened somewhere between the upstream's last request of the call that opened it and
the client's receipt of that call's answer (`harness.wait.Cooldown`: `opened_at`, `opened_by`).
A probe is a call made while it should still be open. Each must be rejected with 503
CIRCUIT_BREAKER_OPEN, at once, without the upstream seeing a request, and carry a Retry-After of
the cooldown left, which counts down: a probe right after the opening finds about 60 s left, a
probe shortly before the end only a few.

The late probe must surely fall before the cooldown's true end, whenever in that window the
breaker opened: it is sent BREAKER_LATE_PROBE spec seconds before the *earliest* possible end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from catalogue import vocabulary
from harness.chat import error_details
from harness.envelope import envelope_problems, error_code
from harness.exchange import Exchange
from harness.resolutions import BREAKER_LATE_PROBE
from harness.spec_values import BREAKER
from harness.timing import Clock
from harness.wait import Cooldown

RIGHT_AFTER_OPENING = "right after it opened"
SHORTLY_BEFORE_THE_END = "shortly before its cooldown ends"
REJECTED_WITH = "CIRCUIT_BREAKER_OPEN"


@dataclass(frozen=True)
class Probe:
    label: str              # when it was meant to go: RIGHT_AFTER_OPENING, SHORTLY_BEFORE_THE_END
    exchange: Exchange


def last_answer(calls: Iterable[Exchange]) -> float:
    """When the last of the calls that opened a breaker was answered: calls made at the same time
    end in any order, and the breaker opened when the last of them failed."""
    return max(call.answered_at for call in calls)


def opened_cooldown(request_times: list[float], opening_answered_at: float, clock: Clock) -> Cooldown:
    """The cooldown the call answered at `opening_answered_at` started: the breaker opened between
    the upstream's last request up to then and that answer."""
    before = [t for t in request_times if t <= opening_answered_at]
    assert before, "the upstream never received a request, so no breaker opened"
    return Cooldown(max(before), clock.real(BREAKER.cooldown), clock.tolerance, opening_answered_at)


def late_probe_at(cooldown: Cooldown, clock: Clock) -> float:
    """When to send the late probe: BREAKER_LATE_PROBE spec seconds before the earliest possible end."""
    return cooldown.opened_at + clock.real(BREAKER.cooldown - BREAKER_LATE_PROBE)


def surely_open_until(cooldown: Cooldown) -> float:
    """Until when the breaker is surely still open (monotonic seconds), however early it opened."""
    return cooldown.ends_at - cooldown.tolerance


def within_cooldown(probe: Probe, cooldown: Cooldown, clock: Clock) -> bool:
    """Whether an answer at once to `probe` was surely decided while the breaker was open. A probe
    the harness sent later than that (a busy machine) cannot show a breaker that let it through."""
    return probe.exchange.sent_at + clock.at_once <= surely_open_until(cooldown)


@dataclass(frozen=True)
class CooldownLeft:
    """The whole seconds of cooldown a probe's Retry-After may carry, and the real seconds of the
    cooldown that had passed (at least, at most) when the implementation computed it."""

    low: int
    high: int
    shortest: float
    longest: float

    def holds(self, value: int) -> bool:
        return self.low <= value <= self.high


def cooldown_left(cooldown: Cooldown, exchange: Exchange, clock: Clock) -> CooldownLeft:
    """The implementation computed the header between `exchange` leaving and its answer arriving;
    the breaker opened between `cooldown.opened_at` and `cooldown.opened_by`. The cooldown left is
    then between 60 s minus the longest and minus the shortest time passed (each widened by the
    tolerance), rounded down or up to whole seconds, and never below 1."""
    opened_by = cooldown.opened_by if cooldown.opened_by is not None else cooldown.opened_at
    longest = exchange.answered_at - cooldown.opened_at + clock.tolerance
    shortest = max(0.0, exchange.sent_at - opened_by - clock.tolerance)
    low = max(1, math.floor(BREAKER.cooldown - clock.spec(longest)))
    high = min(math.ceil(BREAKER.cooldown), math.ceil(BREAKER.cooldown - clock.spec(shortest)))
    return CooldownLeft(low, high, shortest, longest)


def countdown_problems(probe: Probe, cooldown: Cooldown, clock: Clock) -> list[str]:
    """What is wrong with the probe's Retry-After and details.retry_after_seconds: the header must
    count down the cooldown left, and the detail, rounded up to whole seconds as the header is
    (GW-VOC-003 / HIVE-VOC-003), must give the header."""
    exchange, name = probe.exchange, f"the probe {probe.label}"
    value = exchange.headers.get("retry-after")
    if value is None or not value.isdigit() or int(value) < 1:
        return [f"{name} carried no usable Retry-After (a positive whole number of seconds): {exchange.describe()}"]
    left = cooldown_left(cooldown, exchange, clock)
    problems = []
    if not left.holds(int(value)):
        problems.append(f"{name} carried Retry-After {value}, but {left.shortest:.3f} to {left.longest:.3f} s (real) "
                        f"of the {BREAKER.cooldown:g} s cooldown had passed: allowed {left.low} to {left.high}")
    detail = error_details(exchange).get("retry_after_seconds")
    if not isinstance(detail, (int, float)) or isinstance(detail, bool):
        problems.append(f"{name} carried no numeric details.retry_after_seconds: {exchange.describe()}")
    elif math.ceil(detail) != int(value):
        problems.append(f"{name} carried details.retry_after_seconds {detail}, which does not give its "
                        f"Retry-After {value} (rounded up to whole seconds)")
    return problems


def rejection_problems(probe: Probe, cooldown: Cooldown, request_times: list[float], clock: Clock,
                       upstream: str) -> list[str]:
    """What is wrong with how the breaker answered a probe made during its cooldown: not rejected
    with a conforming 503 CIRCUIT_BREAKER_OPEN, reaching the upstream, or not answered at once.
    Of a probe sent too late to be `within_cooldown`, only requests the upstream surely received
    during the cooldown are judged."""
    exchange, name = probe.exchange, f"the probe {probe.label}"
    problems = []
    judged = within_cooldown(probe, cooldown, clock)
    if judged and (exchange.status != 503 or error_code(exchange) != REJECTED_WITH):
        problems.append(f"{name} was not rejected by the open breaker with 503 {REJECTED_WITH}: {exchange.describe()}")
    elif judged:
        envelope = envelope_problems(exchange, vocabulary())
        if envelope:
            problems.append(f"{name} was not a conforming error envelope: {envelope}; {exchange.describe()}")
    reached = [t for t in requests_during_cooldown(request_times, cooldown)
               if exchange.sent_at <= t <= exchange.answered_at]
    if reached:
        problems.append(f"{name} reached {upstream}: {len(reached)} request(s) while the breaker was open")
    if judged and exchange.elapsed > clock.at_once:
        problems.append(f"{name} was answered after {exchange.elapsed:.3f} s, not at once (allowed "
                        f"{clock.at_once:.3f} s)")
    return problems


def requests_during_cooldown(request_times: list[float], cooldown: Cooldown) -> list[float]:
    """The upstream's requests after the one that opened the breaker and while it was surely open."""
    return [t for t in request_times if cooldown.opened_at < t < surely_open_until(cooldown)]


def stray_requests(request_times: list[float], cooldown: Cooldown, probes: list[Probe]) -> list[float]:
    """Requests during the cooldown that arrived while no probe was out."""
    return [t for t in requests_during_cooldown(request_times, cooldown)
            if not any(p.exchange.sent_at <= t <= p.exchange.answered_at for p in probes)]
