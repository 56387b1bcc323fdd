"""Deliberately broken gateways: each defect swaps one component and names the clauses it breaks.

`python -m reference.gateway --defect NAME` starts the reference with that one part replaced; the
self-validation tests prove the named scenarios fail against it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping

from starlette.responses import JSONResponse, Response

from reference.common.errors import ServiceError
from reference.gateway.auth import Authenticator
from reference.common.breaker_defects import (ConstantRetryAfter, HalfOpenLetsAllThrough, HalfOpensAfter50s,
                                              NeverHalfOpens, SuccessKeepsCount, one_shared_breaker)
from reference.gateway.classify import Category, Classification, Classifier
from reference.gateway.components import Components
from reference.gateway.config import GatewayConfig, RetrySettings
from reference.gateway.limiter import ConcurrencyLimiter
from reference.gateway.retry import RetryDecision, RetryPolicy
from reference.common.defects import NO_JITTER_ACROSS_CALLS, Defect, SeededPerCall
from reference.common.defects import components_for as select


class RetriesEverything(Classifier):
    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        return Classification(Category.TRANSIENT, True)


class CountsClientErrors(Classifier):
    def counts_against_breaker(self, status: int | None, classification: Classification) -> bool:
        return True


class NoJitter(RetryPolicy):
    def computed_delay(self, retry: int) -> float:
        s = self.settings
        return min(s.initial * s.multiplier ** (retry - 1), s.cap)


class ConstantFactor(RetryPolicy):
    """Every delay is its base times 1.1: inside the window, and the same on every call."""

    def computed_delay(self, retry: int) -> float:
        s = self.settings
        return min(s.initial * s.multiplier ** (retry - 1), s.cap) * (1 + s.jitter)



class JitterByAttempt(RetryPolicy):
    """The factor is a fixed function of the retry: 0.94, 0.98, 1.02, 1.06, 1.10."""

    def computed_delay(self, retry: int) -> float:
        s = self.settings
        return min(s.initial * s.multiplier ** (retry - 1), s.cap) * (0.9 + 0.04 * retry)


class IgnoresRetryAfterMs(RetryPolicy):
    def decide(self, attempt: int, elapsed: float, headers: Mapping[str, str]) -> RetryDecision:
        return super().decide(attempt, elapsed, {k: v for k, v in headers.items() if k != "retry-after-ms"})


class IgnoresRetryAfter(RetryPolicy):
    def decide(self, attempt: int, elapsed: float, headers: Mapping[str, str]) -> RetryDecision:
        return super().decide(attempt, elapsed, {})


class WaitsAnyRetryAfter(RetryPolicy):
    def decide(self, attempt: int, elapsed: float, headers: Mapping[str, str]) -> RetryDecision:
        relaxed = dataclasses.replace(self.settings, retry_after_cap=float("inf"), budget=float("inf"))
        return RetryPolicy(relaxed, self.rng).decide(attempt, elapsed, headers)


class RetriesOpenBreaker(RetryPolicy):
    """Retries a call the open breakers rejected during their cooldown with the normal backoff, like
    a transient failure (a half-open breaker's rejection still fails at once)."""

    def after_breaker_rejection(self, rejection: int, elapsed: float, cooling_down: bool) -> RetryDecision:
        return self.decide(rejection, elapsed, {}) if cooling_down else RetryDecision(False)


class OffByOneLimiter(ConcurrencyLimiter):
    @property
    def capacity(self) -> int:
        return super().capacity + 1


class EchoesToken(Authenticator):
    def rejected(self, presented: str) -> ServiceError:
        return ServiceError("FORBIDDEN", f"token {presented} is not valid for this gateway",
                            {"suggested_action": "Check the token you were given"})


def _bare_envelope(error: ServiceError, correlation_id: str) -> Response:
    """Drops suggested_action and the Retry-After header."""
    body = error.envelope(correlation_id)
    body["error"]["details"].pop("suggested_action", None)
    return JSONResponse(body, status_code=error.status)


def _slow_timeout(config: GatewayConfig) -> GatewayConfig:
    return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, upstream=35.0, request=40.0))


def _upstream_timeout_28s(config: GatewayConfig) -> GatewayConfig:
    """Still answers before the 30 s request timeout: only a measurement at the provider tells."""
    return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, upstream=28.0))


class JitterAboveBound(RetryPolicy):
    """Jitter added on top of the delay, 20 to 50 %, instead of spread +/-10 % around it."""

    def computed_delay(self, retry: int) -> float:
        s = self.settings
        return min(s.initial * s.multiplier ** (retry - 1), s.cap) * self.rng.uniform(1.2, 1.5)


def _seven_attempts(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(dataclasses.replace(settings, max_attempts=settings.max_attempts + 1), random.Random())


def _defect(description: str, clauses: tuple[str, ...], assertion: str = "", **parts: object) -> Defect[Components]:
    return Defect(description, clauses, Components(**parts), assertion)  # type: ignore[arg-type]


DEFECTS: dict[str, Defect[Components]] = {
    "retries-permanent": _defect("retries 400/401/403/404 like transient failures", ("GW-RETRY-002",),
                                 classifier=RetriesEverything),
    "breaker-counts-4xx": _defect("client errors count against the breaker", ("GW-BREAKER-002",),
                                  classifier=CountsClientErrors),
    "no-jitter": _defect("retry delays without jitter", ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                         retry_policy=lambda s: NoJitter(s, random.Random())),
    "jitter-constant-factor": _defect("every retry delay is its base times 1.1 (inside the window, never varying)",
                                      ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: ConstantFactor(s, random.Random())),
    "jitter-seeded-per-call": _defect("each call's retries start a new random.Random(seed): every call the same "
                                      "sequence of factors", ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: RetryPolicy(s, SeededPerCall())),
    "jitter-by-attempt": _defect("the jitter factor is a fixed function of the attempt (0.9 + 0.04 n)",
                                 ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                 retry_policy=lambda s: JitterByAttempt(s, random.Random())),
    "jitter-beyond-bound": _defect("adds 20-50 % jitter on top of each delay instead of +/-10 % around it",
                                   ("GW-RETRY-004",), r"attempt \d+ came too late",
                                   retry_policy=lambda s: JitterAboveBound(s, random.Random())),
    "ignores-retry-after-ms": _defect("waits retry-after and ignores the retry-after-ms beside it",
                                      ("GW-RETRY-008",),
                                      retry_policy=lambda s: IgnoresRetryAfterMs(s, random.Random())),
    "ignores-retry-after": _defect("computed delays even when the upstream sent Retry-After",
                                   ("GW-RETRY-007", "GW-RETRY-008"),
                                   retry_policy=lambda s: IgnoresRetryAfter(s, random.Random())),
    "waits-any-retry-after": _defect("waits a Retry-After past the cap instead of answering 429",
                                     ("GW-RETRY-009",),
                                     retry_policy=lambda s: WaitsAnyRetryAfter(s, random.Random())),
    "too-many-attempts": _defect("one attempt more than allowed", ("GW-RETRY-005",), retry_policy=_seven_attempts),
    "breaker-never-half-opens": _defect("an open breaker stays open forever", ("GW-BREAKER-004",),
                                        breaker=NeverHalfOpens),
    "half-open-lets-all-through": _defect("a half-open breaker admits every call", ("GW-BREAKER-006",),
                                          breaker=HalfOpenLetsAllThrough),
    "success-keeps-count": _defect("a success does not reset the consecutive-failure count",
                                   ("GW-BREAKER-008",), breaker=SuccessKeepsCount),
    "cooldown-50s": _defect("the breaker half-opens 50 s after opening instead of 60 s (its Retry-After still "
                            "counts down 60 s)", ("GW-BREAKER-003", "GW-BREAKER-004"),
                            assertion=r"probe shortly before its cooldown ends (was not rejected|reached)",
                            breaker=HalfOpensAfter50s),
    "constant-retry-after": _defect("an open breaker always answers Retry-After 60 (retry_after_seconds 60)",
                                    ("GW-BREAKER-007",),
                                    assertion=r"probe shortly before its cooldown ends carried Retry-After 60",
                                    breaker=ConstantRetryAfter),
    "retries-open-breaker": _defect("retries a call the open breaker rejected with the normal backoff instead of "
                                    "failing at once", ("GW-BREAKER-003",),
                                    assertion=r"probe right after it opened was answered after .* not at once",
                                    retry_policy=lambda s: RetriesOpenBreaker(s, random.Random())),
    "one-breaker-for-all": _defect("one breaker shared by every provider", ("GW-BREAKER-009",),
                                   breaker=one_shared_breaker()),
    "capacity-off-by-one": _defect("admits one request more than its capacity", ("GW-LIMIT-002",),
                                   limiter=OffByOneLimiter),
    "timeout-35s": _defect("upstream timeout of 35 s instead of 25 s", ("GW-TIMEOUT-003",), configure=_slow_timeout),
    "timeout-28s": _defect("upstream timeout of 28 s instead of 25 s (still inside the 30 s request timeout)",
                           ("GW-TIMEOUT-003",), configure=_upstream_timeout_28s,
                           assertion=r"dropped provider primary .* upstream timeout allows"),
    "retries-after-first-byte": _defect("retries a stream after bytes reached the client (duplicates)",
                                        ("GW-STREAM-005", "GW-STREAM-006"),
                                        retry_after_commit=True),
    "leaks-upstream-on-disconnect": _defect("leaves the upstream connection open when the client leaves",
                                            ("GW-STREAM-004", "GW-CLEANUP-001"),
                                            close_upstream_on_disconnect=False),
    "bare-envelope": _defect("error envelopes without suggested_action or Retry-After", ("GW-VOC-003",),
                             render_error=_bare_envelope),
    "echoes-token": _defect("repeats the presented token in the 403 message", ("GW-ENV-003",),
                            authenticator=EchoesToken),
}


def components_for(defect: str | None) -> Components:
    return select(DEFECTS, defect, Components)


__all__ = ["DEFECTS", "Defect", "components_for"]
