"""The reference gateway's policy components in isolation: classifier, retry policy, breaker."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from reference.common.clock import ScaledClock
from reference.common.breaker import CircuitBreaker, State
from reference.gateway.classify import Category, Classifier
from reference.gateway.config import BreakerSettings, RetrySettings
from reference.gateway.defects import ConstantFactor, JitterByAttempt, SeededPerCall
from reference.gateway.retry import RetryPolicy, retry_after_hint


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert Classifier().status(status, {}).retryable


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 418])
def test_permanent_statuses_are_never_retried(status: int) -> None:
    verdict = Classifier().status(status, {})
    assert not verdict.retryable and verdict.category is Category.PERMANENT


def test_x_should_retry_overrides_the_status_rule_both_ways() -> None:
    assert not Classifier().status(503, {"x-should-retry": "false"}).retryable
    assert Classifier().status(400, {"x-should-retry": "true"}).retryable


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_hint({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_hint({"retry-after": "2.5"}) == 2.5
    assert retry_after_hint({}) is None
    assert retry_after_hint({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_computed_delays_follow_the_formula_with_ten_percent_jitter() -> None:
    policy = RetryPolicy(RetrySettings(), random.Random(7))
    for retry, base in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (9, 30)]:
        for _ in range(50):
            assert 0.9 * base <= policy.computed_delay(retry) <= 1.1 * base


def test_the_fixed_jitter_defects_repeat_their_delays_on_every_call() -> None:
    bases = [1, 2, 4, 8, 16]
    seeded = RetryPolicy(RetrySettings(), SeededPerCall())   # one policy; each call is its own asyncio task

    async def one_call() -> list[float]:
        return [seeded.decide(attempt, 0.0, {}).delay for attempt in range(1, 6)]
    calls = [asyncio.run(one_call()) for _ in range(3)]
    assert calls[0] == calls[1] == calls[2]
    assert len({round(d / b, 9) for d, b in zip(calls[0], bases, strict=True)}) == 5   # random-looking factors
    constant = ConstantFactor(RetrySettings(), random.Random())
    assert [constant.computed_delay(n) for n in range(1, 6)] == pytest.approx([1.1 * b for b in bases])
    by_attempt = JitterByAttempt(RetrySettings(), random.Random())
    assert [by_attempt.computed_delay(n) for n in range(1, 6)] == \
        pytest.approx([b * (0.9 + 0.04 * n) for n, b in enumerate(bases, start=1)])


def test_policy_stops_after_six_attempts_and_at_the_budget() -> None:
    policy = RetryPolicy(RetrySettings(), random.Random(1))
    assert policy.decide(5, 10.0, {}).retry
    assert not policy.decide(6, 10.0, {}).retry
    assert not policy.decide(2, 119.5, {}).retry


def test_a_retry_after_up_to_the_cap_replaces_the_delay_and_a_longer_one_ends_retries() -> None:
    policy = RetryPolicy(RetrySettings(), random.Random(1))
    assert policy.decide(1, 0.0, {"retry-after": "7"}).delay == 7.0
    decision = policy.decide(1, 0.0, {"retry-after": "61"})
    assert not decision.retry and decision.retry_after == 61.0


@dataclass
class FakeTime:
    now_spec: float = 1000.0


class SteppedClock(ScaledClock):
    def __init__(self, time: FakeTime) -> None:
        super().__init__(1.0)
        object.__setattr__(self, "time", time)

    def now(self) -> float:
        return self.time.now_spec  # type: ignore[attr-defined, no-any-return]


def test_breaker_opens_after_five_failures_half_opens_after_cooldown_with_one_trial() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(BreakerSettings(threshold=5, cooldown=60), SteppedClock(time))
    for _ in range(4):
        breaker.failed(breaker.admit())
    assert breaker.state is State.CLOSED
    breaker.failed(breaker.admit())
    assert breaker.state is State.OPEN
    time.now_spec += 20
    rejected = breaker.admit()
    assert not rejected.allowed and rejected.retry_after == pytest.approx(40)
    time.now_spec += 40
    trial = breaker.admit()
    assert trial.allowed and trial.trial
    assert not breaker.admit().allowed, "a second call during the trial must be rejected"
    breaker.failed(trial)
    assert breaker.state is State.OPEN
    time.now_spec += 60
    trial = breaker.admit()
    breaker.succeeded(trial)
    assert breaker.state is State.CLOSED and breaker.admit().allowed


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(BreakerSettings(), SteppedClock(FakeTime()))
    for _ in range(4):
        breaker.failed(breaker.admit())
    breaker.succeeded(breaker.admit())
    for _ in range(4):
        breaker.failed(breaker.admit())
    assert breaker.state is State.CLOSED
