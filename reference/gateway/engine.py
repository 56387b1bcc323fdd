"""The gateway's core: a provider chain, a breaker per provider, retries only before commit.

An operation is one provider call with all its retries. For a streaming client the operation
ends at commit, when the first content is in hand and the response is about to start; from then
on nothing is retried, and a failure becomes a terminal error event instead.

The steps an implementation could get wrong (when to retry, when to fall back, what to count and
log, what a failed attempt leaves behind) are methods of their own, so a defect overrides one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.breaker import Admission, CircuitBreaker, State
from reference.gateway.config import GatewayConfig, ProviderConfig
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import OperationFailed
from reference.gateway.retry import RetryDecision
from reference.gateway.upstream import AttemptFailed, UpstreamCall, upstream_client
from reference.gateway.wire.events import ChatRequest, Event, Transcript

if TYPE_CHECKING:
    from reference.gateway.components import Components

log = logging.getLogger("reference.gateway")
BREAKER_OPEN = "CIRCUIT_BREAKER_OPEN"


@dataclass
class Committed:
    """A stream that reached its first content: the caller now owns the call and must close it."""

    provider: str
    call: UpstreamCall
    buffered: list[Event]
    settle: Callable[[bool | None], None]     # True: success, False: failure, None: says nothing


class Engine:
    def __init__(self, config: GatewayConfig, clock: ScaledClock, metrics: GatewayMetrics,
                 parts: Components, client: httpx.AsyncClient | None = None) -> None:
        self.config, self.clock, self.metrics, self.parts = config, clock, metrics, parts
        self.classifier = parts.classifier()
        self.policy = parts.retry_policy(config.retry)
        self.breakers = {p.name: parts.breaker(config.breaker, clock) for p in config.providers}
        self.wires = parts.wires()
        self._client = client
        self.retired = False  # replaced by a reset: its requests make no further upstream attempts

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # created on first use, inside the server's event loop
            self._client = upstream_client()
        return self._client

    async def complete(self, chat: ChatRequest, correlation_id: str) -> tuple[str, Transcript]:
        result = await self._chain(chat, correlation_id, commit=False)
        assert isinstance(result, tuple)
        return result

    async def start_stream(self, chat: ChatRequest, correlation_id: str) -> Committed:
        result = await self._chain(chat, correlation_id, commit=True)
        assert isinstance(result, Committed)
        return result

    async def _chain(self, chat: ChatRequest, correlation_id: str, commit: bool) -> Committed | tuple[str, Transcript]:
        """The provider chain, and what the retry policy does with a call every breaker rejected."""
        started, rejections = self.clock.now(), 0
        while True:
            try:
                return await self._through_providers(chat, correlation_id, commit)
            except ServiceError as error:
                if error.code != BREAKER_OPEN:
                    raise
                rejections += 1
                cooling_down = all(b.state is State.OPEN for b in self.breakers.values())
                decision = self.policy.after_breaker_rejection(rejections, self.clock.now() - started, cooling_down)
                if not decision.retry:
                    raise
                log.info("every breaker open; retrying the call in %.3fs correlation_id=%s", decision.delay,
                         correlation_id)
                await self.clock.sleep(decision.delay)

    async def _through_providers(self, chat: ChatRequest, correlation_id: str,
                                 commit: bool) -> Committed | tuple[str, Transcript]:
        if not self.config.providers:
            raise ServiceError("SERVICE_UNAVAILABLE", "no provider is configured",
                               {"retry_after_seconds": self.config.limits.retry_after,
                                "suggested_action": "The operator must configure a provider"})
        waits: list[float] = []
        failures: list[OperationFailed] = []
        chain = self.config.providers
        for index, provider in enumerate(chain):
            has_next = index + 1 < len(chain)
            breaker = self.breakers[provider.name]
            admission = breaker.admit()
            if not admission.allowed:
                waits.append(self.breaker_rejected(provider, admission, has_next, correlation_id))
                continue
            try:
                result = await self._operation(provider, chat, correlation_id, commit, breaker, admission, has_next)
            except OperationFailed as failure:
                counts = self.classifier.counts_against_breaker(failure.last.status, failure.last.classification)
                (breaker.failed if counts else breaker.neutral)(admission)
                failures.append(failure)
                if has_next and self.falls_back(failure):
                    self.fallback(provider, "retries exhausted", True, correlation_id)
                    continue
                raise self.chain_error(failures) from None
            except BaseException:
                breaker.neutral(admission)
                raise
            if not commit:
                breaker.succeeded(admission)
            return result
        if failures:
            raise self.chain_error(failures)
        wait = min(waits)
        # The Retry-After header is derived from the detail when the answer is rendered, so the two
        # always agree (rounding each from `wait` apart put 59 beside 59.001).
        raise ServiceError(BREAKER_OPEN, "every provider's circuit breaker is open",
                           {"retry_after_seconds": round(wait, 3),
                            "suggested_action": f"Retry after {wait:.0f} seconds"})

    def breaker_rejected(self, provider: ProviderConfig, admission: Admission, has_next: bool,
                         correlation_id: str) -> float:
        """A provider whose breaker is open is skipped for the next in the chain; the spec seconds
        until it lets a call through again."""
        self.fallback(provider, "breaker open", has_next, correlation_id)
        return admission.retry_after

    def falls_back(self, failure: OperationFailed) -> bool:
        """Whether a failed operation hands the call to the next provider: only when its retries
        ran out on retryable failures; a client error would fail there too."""
        return failure.exhausted

    def chain_error(self, failures: list[OperationFailed]) -> ServiceError:
        """The one error the client gets when the chain gave up: the last failure's."""
        return self.parts.failure_error(failures[-1], self.config.limits.retry_after)

    def fallback(self, provider: ProviderConfig, why: str, has_next: bool, correlation_id: str) -> None:
        if has_next:
            self.metrics.fallbacks.labels("provider_switch").inc()
            log.warning("fallback from provider=%s (%s) correlation_id=%s", provider.name, why, correlation_id)

    def asks_to_stream(self, provider: ProviderConfig, commit: bool) -> bool:
        """A provider configured as unable to stream is always asked for a buffered reply."""
        return provider.streaming

    def new_call(self, provider: ProviderConfig, chat: ChatRequest, stream: bool, correlation_id: str) -> UpstreamCall:
        """One attempt, with a transcript of its own."""
        return self.parts.upstream_call(self.client, provider, chat, stream, self.config.timeouts, self.clock.scale,
                                        self.classifier, correlation_id, self.wires[provider.kind])

    def retry_decision(self, provider: ProviderConfig, attempt: int, elapsed: float, failure: AttemptFailed,
                       commit: bool, has_next: bool) -> RetryDecision:
        return self.policy.decide(attempt, elapsed, failure.headers)

    def attempt_starts(self, provider: ProviderConfig, attempt: int) -> None:
        """Every attempt after the first is a retry."""
        if attempt > 1:
            self.metrics.retries.labels(provider.name).inc()

    def attempt_failed(self, provider: ProviderConfig, chat: ChatRequest, failure: AttemptFailed, commit: bool,
                       correlation_id: str) -> None:
        """Before commit nothing reached the client: a failed attempt is no streaming error."""
        log.info("provider=%s attempt failed: %s correlation_id=%s", provider.name, failure.reason, correlation_id)

    def before_retry(self, provider: ProviderConfig, chat: ChatRequest, attempt: int, decision: RetryDecision,
                     failure: AttemptFailed, correlation_id: str) -> None:
        """`attempt` is the attempt about to start."""
        log.info("retrying provider=%s attempt %d/%d in %.3fs after %s correlation_id=%s", provider.name, attempt,
                 self.policy.max_attempts, decision.delay, failure.reason, correlation_id)

    async def discard(self, call: UpstreamCall, failure: AttemptFailed) -> None:
        """A failed attempt's connection is closed before anything else happens."""
        await call.close()

    async def _operation(self, provider: ProviderConfig, chat: ChatRequest, correlation_id: str, commit: bool,
                         breaker: CircuitBreaker, admission: Admission,
                         has_next: bool) -> Committed | tuple[str, Transcript]:
        started = self.clock.now()
        stream_upstream = self.asks_to_stream(provider, commit)
        if commit and not stream_upstream:
            self.metrics.fallbacks.labels("streaming_to_buffered").inc()
        attempt = 0
        while True:
            attempt += 1
            if self.retired:
                raise ServiceError("SERVICE_UNAVAILABLE", "the gateway was reset while this request was retrying",
                                   {"retry_after_seconds": self.config.limits.retry_after,
                                    "suggested_action": "Send the request again"})
            self.attempt_starts(provider, attempt)
            call = self.new_call(provider, chat, stream_upstream, correlation_id)
            try:
                await call.open()
                if commit:
                    buffered = await self.first_content(call)
                    return Committed(provider.name, call, buffered, self._settler(breaker, admission))
                async for _ in call.events():
                    pass
                await call.close()
                return provider.name, call.transcript
            except AttemptFailed as failure:
                await self.discard(call, failure)
                if failure.cannot_stream:
                    self.metrics.fallbacks.labels("streaming_to_buffered").inc()
                    log.warning("provider=%s cannot stream; asking for a buffered reply correlation_id=%s",
                                provider.name, correlation_id)
                    stream_upstream, attempt = False, attempt - 1
                    continue
                self.attempt_failed(provider, chat, failure, commit, correlation_id)
                if not failure.classification.retryable:
                    raise OperationFailed(provider.name, failure, attempt, exhausted=False) from None
                decision = self.retry_decision(provider, attempt, self.clock.now() - started, failure, commit,
                                               has_next)
                if not decision.retry or not breaker.attempt_failed(admission):
                    raise OperationFailed(provider.name, failure, attempt, exhausted=True,
                                          retry_after=decision.retry_after) from None
                self.before_retry(provider, chat, attempt + 1, decision, failure, correlation_id)
                await self.clock.sleep(decision.delay)
            except BaseException:
                await call.close()
                raise

    async def first_content(self, call: UpstreamCall) -> list[Event]:
        """Read until there is something to show the client (or the stream finished): the
        commit point, before which a failure is still retried invisibly."""
        buffered: list[Event] = []
        async for event in call.events():
            buffered.append(event)
            if call.transcript.has_content or call.transcript.finish_reason:
                return buffered
        return buffered

    def _settler(self, breaker: CircuitBreaker, admission: Admission) -> Callable[[bool | None], None]:
        settled = False

        def settle(success: bool | None) -> None:
            """Report the committed stream's outcome to its breaker, once."""
            nonlocal settled
            if settled:
                return
            settled = True
            if success is None:
                breaker.neutral(admission)
            else:
                (breaker.succeeded if success else breaker.failed)(admission)
        return settle
