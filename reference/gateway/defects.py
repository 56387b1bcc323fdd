"""Deliberately broken gateways: each defect swaps one component and names the clauses it breaks.

`python -m reference.gateway --defect NAME` starts the reference with that one part replaced; the
self-validation tests prove the named scenarios fail against it, on the check its `assertion`
names. Each is a boundary defect where one exists: the smallest violation of its clause an
implementer realistically writes (a status missing from a list, an off-by-one, a default left in
place, a close or a release on one path only), not a gross one.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import math
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from reference.common.breaker import Admission, CircuitBreaker, State
from reference.common.breaker_defects import (ConstantRetryAfter, HalfOpenLetsAllThrough, HalfOpensAfter50s,
                                              NeverHalfOpens, SuccessKeepsCount, one_shared_breaker)
from reference.common.defects import (NO_JITTER_ACROSS_CALLS, SAME_JITTER_WITHIN_CALLS, Defect, DrawnOncePerCall,
                                     SeededPerCall)
from reference.common.defects import components_for as select
from reference.common.errors import ServiceError
from reference.common.http import correlation_id, exception_handlers, read_body, too_large
from reference.gateway.app import Gateway
from reference.gateway.auth import Authenticator
from reference.gateway.classify import BEFORE_RESPONSE, CONNECT, Category, Classification, Classifier
from reference.gateway.components import Components
from reference.gateway.config import GatewayConfig, ProviderConfig, RetrySettings
from reference.gateway.engine import BREAKER_OPEN, Committed, Engine
from reference.gateway.limiter import DISCONNECT, ERROR, TIMEOUT, ConcurrencyLimiter
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import OperationFailed, failure_error, partial_details
from reference.gateway.retry import RetryDecision, RetryPolicy, retry_after_hint
from reference.gateway.upstream import AttemptFailed, UpstreamCall
from reference.gateway.validation import ChatValidator
from reference.gateway.wire import WIRES, Wire
from reference.gateway.wire.anthropic import AnthropicWire
from reference.gateway.wire.base import MalformedStream, SseEvent
from reference.gateway.wire.events import ChatRequest, Event, TextDelta, Transcript
from reference.gateway.wire.gemini import GeminiWire
from reference.gateway.wire.openai import OpenAIWire

log = logging.getLogger("reference.gateway")

# -- how the harness's checks fail, for the defects' assertions ---------------------------------

def _received(count: int) -> str:
    return rf"received \d+ request\(s\), expected {count}\b"


def _code(code: str) -> str:
    return rf"expected (an error envelope with )?code {code}\b"


ENVELOPE = r"not a conforming error envelope"
# A request the gateway should have refused, answered instead: the refusal's code check fails on the 200.
ACCEPTED = r"expected code [A-Z_]+: POST \S+ -> 200"
CLOSED_LATE = r"last connection closed (never observed by the deadline|.*allowed)"
NOT_AT_ONCE = r"not at once|it waited \(at once allows"


# -- classification ------------------------------------------------------------------------

class RetriesEverything(Classifier):
    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        return Classification(Category.TRANSIENT, True)


class CountsClientErrors(Classifier):
    def counts_against_breaker(self, status: int | None, classification: Classification) -> bool:
        return True


class NotRetrying(Classifier):
    """Its list of retryable statuses lacks some: they are treated as client errors."""

    MISSING: frozenset[int] = frozenset()

    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        if status in self.MISSING:
            return Classification(Category.PERMANENT, False)
        return super().status(status, headers)


class No429Retry(NotRetrying):
    MISSING = frozenset({429})


class No408Or409Retry(NotRetrying):
    MISSING = frozenset({408, 409})


class RetriesUpstreamAuthErrors(Classifier):
    """Retries 401 and 403 in case the provider's key was being rotated."""

    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        if status in (401, 403):
            return Classification(Category.TRANSIENT, True)
        return super().status(status, headers)


class IgnoresShouldRetry(Classifier):
    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        return super().status(status, {k: v for k, v in headers.items() if k != "x-should-retry"})


class RetriesOnlyConnectFailures(Classifier):
    """A connection that broke after the request went out is not retried (the provider may have
    started the work), only one that could not be made."""

    def connection_failure(self, phase: str = CONNECT) -> Classification:
        if phase == BEFORE_RESPONSE:
            return Classification(Category.TRANSIENT, False)
        return super().connection_failure(phase)


class RetriesTimeouts(Classifier):
    def deadline(self) -> Classification:
        return Classification(Category.CONTEXT, True)


class TimeoutIsAConnectionFailure(Classifier):
    """httpx.ReadTimeout is a TransportError: reported like a broken connection (502), not retried."""

    def deadline(self) -> Classification:
        return Classification(Category.TRANSIENT, False)


class CountsUpstreamAuthErrors(Classifier):
    """An upstream 401 or 403 (the gateway's own credentials) counts against the breaker."""

    def counts_against_breaker(self, status: int | None, classification: Classification) -> bool:
        return status in (401, 403) or super().counts_against_breaker(status, classification)


# -- the retry policy ------------------------------------------------------------------------

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


class JitterAboveBound(RetryPolicy):
    """Jitter added on top of the delay, 20 to 50 %, instead of spread +/-10 % around it."""

    def computed_delay(self, retry: int) -> float:
        s = self.settings
        return min(s.initial * s.multiplier ** (retry - 1), s.cap) * self.rng.uniform(1.2, 1.5)


class ExponentOffByOne(RetryPolicy):
    """delay = initial * 2 ** retry: the first retry waits 2 s, not 1 s."""

    def computed_delay(self, retry: int) -> float:
        return super().computed_delay(retry + 1)


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


class BudgetBeforeTheDelay(RetryPolicy):
    """Checks the budget against the time spent so far, not against when the retry would start."""

    def decide(self, attempt: int, elapsed: float, headers: Mapping[str, str]) -> RetryDecision:
        s = self.settings
        hint = retry_after_hint(headers)
        if hint is not None and hint > s.retry_after_cap:
            return RetryDecision(False, retry_after=hint)
        if attempt >= s.max_attempts or elapsed > s.budget:
            return RetryDecision(False)
        return RetryDecision(True, hint if hint is not None else self.computed_delay(attempt))


class RetriesOpenBreaker(RetryPolicy):
    """Retries a call the open breakers rejected during their cooldown with the normal backoff, like
    a transient failure (a half-open breaker's rejection still fails at once)."""

    def after_breaker_rejection(self, rejection: int, elapsed: float, cooling_down: bool) -> RetryDecision:
        return self.decide(rejection, elapsed, {}) if cooling_down else RetryDecision(False)


def _policy(settings: RetrySettings, **changes: float) -> RetryPolicy:
    return RetryPolicy(dataclasses.replace(settings, **changes), random.Random())  # type: ignore[arg-type]


# -- breakers --------------------------------------------------------------------------------

class CountsAttempts(CircuitBreaker):
    """Counts every failed attempt, and an open breaker stops the retries of the call in flight."""

    def attempt_failed(self, admission: Admission) -> bool:
        if admission.trial:
            return True
        self.failures += 1
        if self.failures >= self.settings.threshold and self.opened_at is None:
            self.opened_at = self.clock.now()
        return self.opened_at is None

    def failed(self, admission: Admission) -> None:
        if admission.trial:
            super().failed(admission)
        else:
            self.attempt_failed(admission)


class OpensAfterSix(CircuitBreaker):
    """`failures > threshold`: opens on the sixth failed operation."""

    def failed(self, admission: Admission) -> None:
        if admission.trial:
            return super().failed(admission)
        self.failures += 1
        if self.failures > self.settings.threshold and self.opened_at is None:
            self.opened_at = self.clock.now()


class HalfOpensAfter65s(CircuitBreaker):
    @property
    def state(self) -> State:
        if self.opened_at is not None and self.clock.now() - self.opened_at < 65.0:
            return State.OPEN
        return super().state


class FailedTrialKeepsTheOldTimer(CircuitBreaker):
    """A failed trial ends the trial but does not restart the cooldown: the breaker stays half-open."""

    def failed(self, admission: Admission) -> None:
        if admission.trial:
            self.trial_running = False
            return
        super().failed(admission)


# -- admission ------------------------------------------------------------------------------

class OffByOneLimiter(ConcurrencyLimiter):
    @property
    def capacity(self) -> int:
        return super().capacity + 1


class KeepsSlotOn(ConcurrencyLimiter):
    """Releases a slot only on the paths its author thought of."""

    KEEPS: frozenset[str] = frozenset()

    def release(self, outcome: str) -> None:
        if outcome not in self.KEEPS:
            super().release(outcome)


class KeepsSlotOnTimeout(KeepsSlotOn):
    KEEPS = frozenset({TIMEOUT})


class KeepsSlotOnError(KeepsSlotOn):
    KEEPS = frozenset({ERROR})


class KeepsSlotOnDisconnect(KeepsSlotOn):
    KEEPS = frozenset({DISCONNECT})


class QueueIgnored(ConcurrencyLimiter):
    @property
    def capacity(self) -> int:
        return self.limits.max_concurrent


class QueueServedAtOnce(ConcurrencyLimiter):
    """The queue's places are slots too: a queued request goes straight to the provider."""

    @property
    def slots(self) -> int:
        return self.limits.max_concurrent + self.limits.max_queue


class WaitsBeforeRejecting(ConcurrencyLimiter):
    """Waits up to 2 s for a slot to free before rejecting."""

    async def acquire(self) -> None:
        if self.at_capacity():
            await self.clock.sleep(2.0)
        await super().acquire()


class CountsItself(ConcurrencyLimiter):
    def rejection(self) -> ServiceError:
        error = super().rejection()
        error.details["current_requests"] += 1
        return error


class RejectsAs429(ConcurrencyLimiter):
    def rejection(self) -> ServiceError:
        error = super().rejection()
        return ServiceError("RATE_LIMITED", error.message, error.details)


class QueueWaitOf10s(ConcurrencyLimiter):
    """A queued request gives up after 10 s without a slot."""

    async def wait_for_slot(self) -> None:
        try:
            await asyncio.wait_for(super().wait_for_slot(), self.clock.real(10.0))
        except TimeoutError:
            raise self.rejection() from None


# -- authentication --------------------------------------------------------------------------

class EchoesToken(Authenticator):
    def rejected(self, presented: str) -> ServiceError:
        return ServiceError("FORBIDDEN", f"token {presented} is not valid for this gateway",
                            {"suggested_action": "Check the token you were given"})


class MissingTokenForbidden(Authenticator):
    def check(self, authorization: str) -> None:
        if not authorization[7:].strip():
            raise self.rejected("")
        super().check(authorization)


class WrongTokenUnauthorized(Authenticator):
    def rejected(self, presented: str) -> ServiceError:
        return ServiceError("UNAUTHORIZED", "the bearer token is not valid for this gateway",
                            {"suggested_action": "Check the token you were given"})


class ComparesTokenLength(Authenticator):
    """Compares as many characters as the valid token has: anything appended to it passes."""

    def check(self, authorization: str) -> None:
        presented = authorization[7:].strip()
        super().check(f"Bearer {presented[:len(self._token)]}" if presented else authorization)


# -- validation and the body -----------------------------------------------------------------

class NoBodyField(ChatValidator):
    def json_object(self, body: bytes) -> dict[str, Any]:
        try:
            return super().json_object(body)
        except ServiceError:
            raise ServiceError("VALIDATION_ERROR", "malformed request",
                               {"fields": {}, "suggested_action": "Send valid JSON"}) from None


class BoolIsAnInteger(ChatValidator):
    def is_integer(self, value: Any, low: int, high: int) -> bool:
        return isinstance(value, int) and low <= value <= high


class UnanchoredModelPattern(ChatValidator):
    """re.match without `$`: a name that merely starts like a model name passes."""

    def model_problem(self, model: Any) -> str | None:
        if isinstance(model, str) and model[:1].isalnum():
            return None
        return super().model_problem(model)


class AllowsDotDot(ChatValidator):
    def model_problem(self, model: Any) -> str | None:
        if isinstance(model, str) and ".." in model:
            return super().model_problem(model.replace("..", "x"))
        return super().model_problem(model)


class SanitisesContent(ChatValidator):
    """Strips control characters from message content 'for safety'."""

    def parse(self, body: bytes) -> ChatRequest:
        chat = super().parse(body)
        clean = tuple({**m, "content": "".join(c for c in m["content"] if c.isprintable())}
                      if isinstance(m.get("content"), str) else m for m in chat.messages)
        return dataclasses.replace(chat, messages=clean)


class AssumesObjectMessages(ChatValidator):
    def message_problems(self, index: int, message: Any) -> dict[str, str]:
        problems = {}
        if message.get("role") not in ("system", "user", "assistant", "tool", "developer"):
            problems[f"messages[{index}].role"] = "must be a role"
        return problems


class EchoesOffendingValues(ChatValidator):
    def invalid(self, fields: dict[str, str], raw: dict[str, Any]) -> ServiceError:
        named = {k: f"{v} (got {raw.get(k)!r})" if k in raw else v for k, v in fields.items()}
        return super().invalid(named, raw)


async def _read_declared_length_only(request: Request, limit: int) -> bytes:
    """Trusts Content-Length: a body sent without one (chunked) is read whole, whatever its size."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    return await request.body()


async def _read_without_max_bytes(request: Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except ServiceError as error:
        raise ServiceError(error.code, error.message, {"suggested_action": "Send a smaller request"}) from None


# -- how failures are reported ----------------------------------------------------------------

def _renamed(error: ServiceError, code: str, **details: Any) -> ServiceError:
    return ServiceError(code, error.message, {**error.details, **details})


def _maps(change: Callable[[OperationFailed, ServiceError], ServiceError | None]
          ) -> Callable[[OperationFailed, float], ServiceError]:
    def describe(failure: OperationFailed, retry_after: float) -> ServiceError:
        error = failure_error(failure, retry_after)
        return change(failure, error) or error
    return describe


_504_AS_TIMEOUT = _maps(lambda f, e: _renamed(e, "GATEWAY_TIMEOUT") if f.last.status == 504 else None)
_529_AS_BAD_GATEWAY = _maps(lambda f, e: _renamed(e, "BAD_GATEWAY") if f.last.status == 529 else None)
_422_AS_BAD_GATEWAY = _maps(lambda f, e: _renamed(e, "BAD_GATEWAY") if f.last.status == 422 else None)
_401_PASSED_THROUGH = _maps(lambda f, e: _renamed(e, "UNAUTHORIZED") if f.last.status == 401 else None)
_CONNECTION_FAILURE_AS_503 = _maps(
    lambda f, e: _renamed(e, "SERVICE_UNAVAILABLE", retry_after_seconds=1.0)
    if f.last.status is None and e.code == "BAD_GATEWAY" else None)
_LONG_HINT_NOT_RELAYED = _maps(
    lambda f, e: _renamed(e, "RATE_LIMITED", retry_after_seconds=1) if f.retry_after is not None else None)
_LONG_HINT_ROUNDED_DOWN = _maps(
    lambda f, e: _renamed(e, "RATE_LIMITED", retry_after_seconds=math.floor(f.retry_after))
    if f.retry_after is not None else None)
_UPSTREAM_STATUS_IS_OURS = _maps(lambda f, e: _renamed(e, e.code, upstream_status=e.status))
_TOOL_CALLS_WITHOUT_ARGUMENTS = _maps(
    lambda f, e: _renamed(e, e.code, partial_tool_calls=[{"id": c["id"], "name": c["name"]}
                                                         for c in e.details.get("partial_tool_calls", [])]))


def _passes_upstream_status(error: ServiceError, cid: str) -> Response:
    response = error.response(cid)
    upstream = error.details.get("upstream_status")
    if isinstance(upstream, int) and error.code in ("BAD_GATEWAY", "SERVICE_UNAVAILABLE", "RATE_LIMITED"):
        response.status_code = upstream
    return response


def _upstream_validation_without_fields(error: ServiceError, cid: str) -> Response:
    response = error.response(cid)
    if error.code == "VALIDATION_ERROR" and "provider" in error.details:
        body = error.envelope(cid)
        body["error"]["details"].pop("fields", None)
        return JSONResponse(body, status_code=error.status, headers={"X-Correlation-ID": cid})
    return response


def _retry_after_only_from_upstream(error: ServiceError, cid: str) -> Response:
    """The gateway's own 503s (capacity, open breakers) go out without a Retry-After header."""
    if "provider" in error.details:
        return error.response(cid)
    headers = {k: v for k, v in error.headers.items() if k.lower() != "retry-after"}
    return JSONResponse(error.envelope(cid), status_code=error.status, headers={"X-Correlation-ID": cid, **headers})


def _retry_after_rounded_down(error: ServiceError, cid: str) -> Response:
    response = error.response(cid)
    seconds = error.details.get("retry_after_seconds")
    if isinstance(seconds, (int, float)):
        response.headers["retry-after"] = str(max(1, math.floor(seconds)))
    return response


def _own_correlation_id(error: ServiceError, cid: str) -> Response:
    """The error handler makes a correlation id of its own for the body."""
    return error.response(uuid.uuid4().hex)


def _validation_as_422(error: ServiceError, cid: str) -> Response:
    response = error.response(cid)
    if error.code == "VALIDATION_ERROR" and "provider" not in error.details:
        response.status_code = 422
    return response


def _open_breaker_as_service_unavailable(error: ServiceError, cid: str) -> Response:
    if error.code == BREAKER_OPEN:
        error = ServiceError("SERVICE_UNAVAILABLE", error.message, error.details, error.headers)
    return error.response(cid)


def _bare_envelope(error: ServiceError, correlation_id: str) -> Response:
    """Drops suggested_action and the Retry-After header."""
    body = error.envelope(correlation_id)
    body["error"]["details"].pop("suggested_action", None)
    return JSONResponse(body, status_code=error.status)


Handlers = dict[Any, Any]


def _routing_errors_left_to_the_framework(render: Callable[[ServiceError, str], Response]) -> Handlers:
    handlers = exception_handlers(render)
    del handlers[HTTPException]
    return handlers


def _wrapped_routing_errors(wrap: Callable[[Request, HTTPException, Callable[..., Awaitable[Response]]],
                                           Awaitable[Response]]) -> Callable[..., Handlers]:
    def handlers_for(render: Callable[[ServiceError, str], Response]) -> Handlers:
        handlers = exception_handlers(render)
        handle = handlers[HTTPException]

        async def wrapped(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return await wrap(request, exc, handle)
        handlers[HTTPException] = wrapped
        return handlers
    return handlers_for


async def _405_as_404(request: Request, exc: HTTPException, handle: Callable[..., Awaitable[Response]]) -> Response:
    return await handle(request, HTTPException(404) if exc.status_code == 405 else exc)


async def _without_details(request: Request, exc: HTTPException,
                           handle: Callable[..., Awaitable[Response]]) -> Response:
    response = await handle(request, exc)
    body = json.loads(bytes(response.body))
    body["error"].pop("details", None)
    return JSONResponse(body, status_code=response.status_code)


# -- the upstream call and the wires ---------------------------------------------------------

class ConnectTimeoutForEverything(UpstreamCall):
    """httpx.Timeout(connect): the 5 s connect timeout bounds the wait for the answer too."""

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeouts.connect * self.scale)


class StreamIdleTimeout30s(UpstreamCall):
    """The answer must start within 25 s, but a started stream may stay silent for 30 s."""

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(30.0 * self.scale, connect=self.timeouts.connect * self.scale)

    async def open(self) -> None:
        try:
            await asyncio.wait_for(super().open(), self.timeouts.upstream * self.scale)
        except TimeoutError:
            raise AttemptFailed(f"{self.provider.name}: no answer within the upstream timeout",
                                self.classifier.deadline()) from None


class NoCorrelationIdUpstream(UpstreamCall):
    def headers(self, wire_headers: Mapping[str, str]) -> dict[str, str]:
        return dict(wire_headers)


HOP_BY_HOP = {"host", "content-length", "content-type", "connection", "transfer-encoding", "accept-encoding"}


class ForwardsClientHeaders(UpstreamCall):
    """Passes the client's headers through, then sets the provider's own credentials header (which
    for OpenAI replaces the client's Authorization, and for the others sits beside it)."""

    def headers(self, wire_headers: Mapping[str, str]) -> dict[str, str]:
        passed = {k: v for k, v in self.chat.client_headers if k.lower() not in HOP_BY_HOP}
        return {**passed, **super().headers(wire_headers)}


class FailedStatusLeftOpen(UpstreamCall):
    """Decides on the status alone and raises: the error response is neither read nor closed, so
    its connection stays checked out of the pool while the next attempt opens another."""

    left_open = False

    async def _status_failure(self, response: httpx.Response) -> AttemptFailed:
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.left_open = True
        return AttemptFailed(f"{self.provider.name} answered HTTP {response.status_code}",
                             self.classifier.status(response.status_code, headers), response.status_code, headers)

    async def close(self) -> None:
        if not self.left_open:
            await super().close()


ABANDONED: set[asyncio.Task[None]] = set()


class AbandonsTimedOutAttempt(UpstreamCall):
    """Waits for the answer with asyncio.wait(timeout=...) and, when it times out, answers 504 without
    cancelling the attempt, which goes on holding its connection."""

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(None, connect=self.timeouts.connect * self.scale)

    async def open(self) -> None:
        attempt = asyncio.ensure_future(super().open())
        done, _ = await asyncio.wait({attempt}, timeout=self.timeouts.upstream * self.scale)
        if not done:
            ABANDONED.add(attempt)
            raise AttemptFailed(f"{self.provider.name}: no answer within the upstream timeout",
                                self.classifier.deadline())
        attempt.result()


class CaseSensitiveRefusal(UpstreamCall):
    def refuses_streaming(self, body: str) -> bool:
        return any(marker in body for marker in ("cannot use tools with stream", "streaming is not supported"))


async def _until_eof(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """The provider's events, taking the end of the body as the end of the answer."""
    try:
        async for event in events:
            yield event
    except MalformedStream as exc:
        if "ended without" not in str(exc):
            raise


class EofEndsOpenAI(OpenAIWire):
    def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        return _until_eof(super().stream_events(sse))


class EofEndsAnthropic(AnthropicWire):
    def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        return _until_eof(super().stream_events(sse))


class EofEndsGemini(GeminiWire):
    def stream_events(self, sse: AsyncIterator[SseEvent]) -> AsyncIterator[Event]:
        return _until_eof(super().stream_events(sse))


def _eof_is_the_end() -> Mapping[str, Wire]:
    return {**WIRES, "openai": EofEndsOpenAI(), "anthropic": EofEndsAnthropic(), "gemini": EofEndsGemini()}


class CreatedOnFirstUse(GatewayMetrics):
    def start_at_zero(self, providers: list[str]) -> None:
        pass


# -- the engine -----------------------------------------------------------------------------

class FallsBackAfterOneFailure(Engine):
    """With a next provider in the chain, the first failed attempt moves the call there."""

    def retry_decision(self, provider: ProviderConfig, attempt: int, elapsed: float, failure: AttemptFailed,
                       commit: bool, has_next: bool) -> RetryDecision:
        if has_next:
            return RetryDecision(False)
        return super().retry_decision(provider, attempt, elapsed, failure, commit, has_next)


class FallsBackOnClientErrors(Engine):
    def falls_back(self, failure: OperationFailed) -> bool:
        return True


class ReportsTheFirstFailure(Engine):
    def chain_error(self, failures: list[OperationFailed]) -> ServiceError:
        return self.parts.failure_error(failures[0], self.config.limits.retry_after)


class OpenBreakerEndsTheChain(Engine):
    def breaker_rejected(self, provider: ProviderConfig, admission: Admission, has_next: bool,
                         correlation_id: str) -> float:
        wait = admission.retry_after
        raise ServiceError(BREAKER_OPEN, f"provider {provider.name}'s circuit breaker is open",
                           {"retry_after_seconds": round(wait, 3), "suggested_action": f"Retry after {wait:.0f} s"},
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})


class CountsOnlyBreakerSwitches(Engine):
    def fallback(self, provider: ProviderConfig, why: str, has_next: bool, correlation_id: str) -> None:
        if why == "breaker open":
            super().fallback(provider, why, has_next, correlation_id)
        elif has_next:
            log.warning("fallback from provider=%s (%s) correlation_id=%s", provider.name, why, correlation_id)


class StreamsNotRetried(Engine):
    def retry_decision(self, provider: ProviderConfig, attempt: int, elapsed: float, failure: AttemptFailed,
                       commit: bool, has_next: bool) -> RetryDecision:
        if commit:
            return RetryDecision(False)
        return super().retry_decision(provider, attempt, elapsed, failure, commit, has_next)


class CommitsOnUpstreamHeaders(Engine):
    async def first_content(self, call: UpstreamCall) -> list[Event]:
        return []


class AlwaysAsksToStream(Engine):
    def asks_to_stream(self, provider: ProviderConfig, commit: bool) -> bool:
        return True


class OneTranscriptPerRequest(Engine):
    """Every attempt of a request appends to the same transcript."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transcripts: dict[tuple[str, str], Transcript] = {}

    def new_call(self, provider: ProviderConfig, chat: ChatRequest, stream: bool, correlation_id: str) -> UpstreamCall:
        transcript = self._transcripts.setdefault((correlation_id, provider.name), Transcript())
        return self.parts.upstream_call(self.client, provider, chat, stream, self.config.timeouts, self.clock.scale,
                                        self.classifier, correlation_id, self.wires[provider.kind], transcript)


class CountsEveryAttempt(Engine):
    def attempt_starts(self, provider: ProviderConfig, attempt: int) -> None:
        self.metrics.retries.labels(provider.name).inc()


class LogsTheFailedAttempt(Engine):
    """Logs the number of the attempt that failed, not of the one about to start."""

    def before_retry(self, provider: ProviderConfig, chat: ChatRequest, attempt: int, decision: RetryDecision,
                     failure: AttemptFailed, correlation_id: str) -> None:
        super().before_retry(provider, chat, attempt - 1, decision, failure, correlation_id)


class CountsRetriedStreamFailures(Engine):
    def attempt_failed(self, provider: ProviderConfig, chat: ChatRequest, failure: AttemptFailed, commit: bool,
                       correlation_id: str) -> None:
        super().attempt_failed(provider, chat, failure, commit, correlation_id)
        if commit:
            self.metrics.streaming_errors.labels(str(failure.classification.category)).inc()


class LogsUpstreamHeaders(Engine):
    def before_retry(self, provider: ProviderConfig, chat: ChatRequest, attempt: int, decision: RetryDecision,
                     failure: AttemptFailed, correlation_id: str) -> None:
        super().before_retry(provider, chat, attempt, decision, failure, correlation_id)
        request = self.wires[provider.kind].request(provider, chat, True)
        log.info("retry of provider=%s will send headers=%s correlation_id=%s", provider.name, dict(request.headers),
                 correlation_id)


class LogsRequestBody(Engine):
    def attempt_failed(self, provider: ProviderConfig, chat: ChatRequest, failure: AttemptFailed, commit: bool,
                       correlation_id: str) -> None:
        log.info("provider=%s attempt failed: %s messages=%s correlation_id=%s", provider.name, failure.reason,
                 json.dumps(chat.messages), correlation_id)


# -- the HTTP surface ------------------------------------------------------------------------

class AuthenticatesAfterTheCall(Gateway):
    async def chat_completions(self, request: Request) -> Response:
        try:
            self.auth.check(request.headers.get("authorization", ""))
        except ServiceError:
            chat = await self.read_chat(request)
            with suppress(ServiceError):
                await self.engine.complete(chat, correlation_id(request))
            raise
        return await super().chat_completions(request)


class RunsOnAfterHangUp(Gateway):
    """Awaits the call without watching the client: a hang-up is noticed when the answer is written."""

    async def _complete(self, request: Request, engine: Engine, chat: ChatRequest,
                        cid: str) -> tuple[str, Transcript] | None:
        return await engine.complete(chat, cid)


class LogsClientHeaders(Gateway):
    async def chat_completions(self, request: Request) -> Response:
        log.info("chat completion request headers=%s correlation_id=%s", dict(request.headers),
                 correlation_id(request))
        return await super().chat_completions(request)


class HealthNeedsToken(Gateway):
    async def health(self, request: Request) -> Response:
        self.auth.check(request.headers.get("authorization", ""))
        return await super().health(request)


class HealthBehindLimiter(Gateway):
    async def health(self, request: Request) -> Response:
        await self.limiter.acquire()
        self.limiter.release("ok")
        return await super().health(request)


class HealthReportsOpenBreakers(Gateway):
    async def health(self, request: Request) -> Response:
        if any(b.state is not State.CLOSED for b in self.engine.breakers.values()):
            return JSONResponse({"status": "degraded"}, status_code=503)
        return await super().health(request)


class DurationOfSuccessesOnly(Gateway):
    def observe(self, metrics: GatewayMetrics, outcome: str, provider: str, started: float) -> None:
        if outcome == "ok":
            super().observe(metrics, outcome, provider, started)


class FirstChunkNotDelivered(Gateway):
    """The first chunk goes out with the role on a path of its own that forgets to record it."""

    def note_delivered(self, delivered: Transcript, event: Event, first: bool) -> None:
        if not first:
            super().note_delivered(delivered, event, first)


class TwoTerminalEvents(Gateway):
    def terminal_events(self, failure: AttemptFailed, provider: str, delivered: Transcript, chat: ChatRequest,
                        cid: str) -> list[bytes]:
        return 2 * super().terminal_events(failure, provider, delivered, chat, cid)


class StreamCutAsBadGateway(Gateway):
    """A broken connection mid-stream ends the stream with the code a failed call gets."""

    def terminal_events(self, failure: AttemptFailed, provider: str, delivered: Transcript, chat: ChatRequest,
                        cid: str) -> list[bytes]:
        if failure.status is None and failure.classification.category is Category.TRANSIENT \
                and "stream broke" in failure.reason:
            error = ServiceError("BAD_GATEWAY", f"provider {provider} failed: {failure.reason}",
                                 {"provider": provider, **partial_details(delivered, "delivered"),
                                  "suggested_action": "Retry later"})
            return [render_sse(error.envelope(cid))]
        return super().terminal_events(failure, provider, delivered, chat, cid)


class StreamErrorCarriesTheRequest(Gateway):
    def terminal_events(self, failure: AttemptFailed, provider: str, delivered: Transcript, chat: ChatRequest,
                        cid: str) -> list[bytes]:
        events = super().terminal_events(failure, provider, delivered, chat, cid)
        payload = json.loads(events[-1].decode()[len("data: "):])
        payload["error"]["details"]["request"] = {"messages": list(chat.messages)}
        return [*events[:-1], render_sse(payload)]


class RepeatsTheSecondChunk(Gateway):
    async def _events(self, committed: Committed) -> AsyncIterator[Event]:
        texts = 0
        async for event in super()._events(committed):
            yield event
            if isinstance(event, TextDelta):
                texts += 1
                if texts == 2:
                    yield event


class DisconnectNoticedOnWrite(Gateway):
    def stream_response(self, body: AsyncIterator[bytes], cid: str) -> Response:
        return _WritesWithoutListening(body, media_type="text/event-stream",
                                       headers={"Cache-Control": "no-cache", "X-Correlation-ID": cid})


class _WritesWithoutListening(StreamingResponse):
    """Streams without watching for the client leaving: a hang-up shows only when a write fails."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


class StreamErrorsAsEvents(Gateway):
    """Starts every streaming response at once and reports any failure as an event."""

    async def respond_streaming(self, engine: Engine, chat: ChatRequest, cid: str, started: float) -> Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                committed = await engine.start_stream(chat, cid)
            except ServiceError as error:
                self.limiter.release(ERROR)
                yield render_sse(error.envelope(cid))
                return
            async for data in self._stream(engine, committed, chat, cid, started):
                yield data
        return self.stream_response(body(), cid)


class RetriesAfterCommit(Gateway):
    async def after_commit_failure(self, engine: Engine, committed: Committed, chat: ChatRequest,
                                   cid: str) -> Committed | None:
        return await engine.start_stream(chat, cid)


class FallsBackAfterCommit(Gateway):
    async def after_commit_failure(self, engine: Engine, committed: Committed, chat: ChatRequest,
                                   cid: str) -> Committed | None:
        rest = tuple(p for p in engine.config.providers if p.name != committed.provider)
        if not rest:
            return None
        others = copy.copy(engine)
        others.config = dataclasses.replace(engine.config, providers=rest)
        return await others.start_stream(chat, cid)


def render_sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _slow_timeout(config: GatewayConfig) -> GatewayConfig:
    return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, upstream=35.0, request=40.0))


def _upstream_timeout(seconds: float) -> Callable[[GatewayConfig], GatewayConfig]:
    def configure(config: GatewayConfig) -> GatewayConfig:
        return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, upstream=seconds))
    return configure


def _no_shutdown_budget(config: GatewayConfig, time_scale: float) -> float:
    """uvicorn's default: waits for every open request however long it takes (an hour, here)."""
    return 3600.0


def _seven_attempts(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(dataclasses.replace(settings, max_attempts=settings.max_attempts + 1), random.Random())


def _defect(description: str, clauses: tuple[str, ...], assertion: str, readiness_status: int | None = None,
            **parts: object) -> Defect[Components]:
    return Defect(description, clauses, Components(**parts), assertion, readiness_status)  # type: ignore[arg-type]


DEFECTS: dict[str, Defect[Components]] = {
    # -- the envelope, routes and secrets
    "framework-errors-without-details": _defect(
        "routing errors (unknown route, wrong method) answered in an envelope without details", ("GW-ENV-001",),
        rf"{ENVELOPE}: .*error\.details is missing", error_handlers=_wrapped_routing_errors(_without_details)),
    "framework-404": _defect("an unknown route gets the framework's own plain-text 404", ("GW-ENV-002",),
                             rf"{ENVELOPE}: \[.body is not JSON", error_handlers=_routing_errors_left_to_the_framework),
    "method-not-allowed-as-404": _defect("a known route called with another method answers 404 NOT_FOUND",
                                         ("GW-ENV-006",), _code("METHOD_NOT_ALLOWED"),
                                         error_handlers=_wrapped_routing_errors(_405_as_404)),
    "echoes-token": _defect("repeats the presented token in the 403 message", ("GW-ENV-003",),
                            r"the response contains 'sk-wrong", authenticator=EchoesToken),
    "logs-client-token": _defect("logs each chat request's headers, the client's token among them", ("GW-ENV-003",),
                                 r"the gateway log contains the client's token", gateway=LogsClientHeaders),
    "logs-provider-key": _defect("logs the headers a retry will send, the provider's API key among them",
                                 ("GW-ENV-003",), r"the gateway log contains provider primary's API key",
                                 engine=LogsUpstreamHeaders),
    "logs-request-body": _defect("logs the request's messages with each failed attempt", ("GW-ENV-003",),
                                 r"the gateway log contains the request's content", engine=LogsRequestBody),
    "echoes-invalid-values": _defect("validation errors quote the offending value", ("GW-ENV-003",),
                                     r"the response contains", validator=EchoesOffendingValues),
    "stream-error-carries-request": _defect("the terminal stream event carries the request's messages for debugging",
                                            ("GW-ENV-003",), r"stream event .* contains the request's content",
                                            gateway=StreamErrorCarriesTheRequest),
    "own-correlation-id-in-errors": _defect("the error body carries a correlation id of its own, not the request's",
                                            ("GW-ENV-004",), r"correlation id .* in its header and its error",
                                            render_error=_own_correlation_id),
    # -- the vocabulary
    "passes-upstream-status": _defect("relays the provider's HTTP status with the mapped code (529 with "
                                      "SERVICE_UNAVAILABLE)", ("GW-VOC-001",), r"must be sent with HTTP \d+, got \d+",
                                      render_error=_passes_upstream_status),
    "upstream-400-without-fields": _defect("a provider's 400 becomes VALIDATION_ERROR without details.fields",
                                           ("GW-VOC-002",), r"details\.fields is missing",
                                           render_error=_upstream_validation_without_fields),
    "bare-envelope": _defect("error envelopes without suggested_action or Retry-After", ("GW-VOC-003",),
                             r"without a Retry-After header", render_error=_bare_envelope),
    "retry-after-only-from-upstream": _defect("the gateway's own 503s (capacity, open breaker) lack Retry-After",
                                              ("GW-VOC-003",), r"without a Retry-After header",
                                              render_error=_retry_after_only_from_upstream),
    "retry-after-rounded-down": _defect("the Retry-After header rounds retry_after_seconds down", ("GW-VOC-003",),
                                        r"does not (agree with|give its Retry-After)",
                                        render_error=_retry_after_rounded_down),
    "upstream-504-as-gateway-timeout": _defect("an upstream 504 is reported as 504 GATEWAY_TIMEOUT", ("GW-VOC-004",),
                                               _code("BAD_GATEWAY"), failure_error=_504_AS_TIMEOUT),
    "upstream-529-as-bad-gateway": _defect("a 529 (overloaded) is reported as 502 BAD_GATEWAY", ("GW-VOC-004",),
                                           _code("SERVICE_UNAVAILABLE"), failure_error=_529_AS_BAD_GATEWAY),
    "upstream-422-as-bad-gateway": _defect("an upstream 422 falls through to 502 BAD_GATEWAY", ("GW-VOC-005",),
                                           _code("VALIDATION_ERROR"), failure_error=_422_AS_BAD_GATEWAY),
    "upstream-401-passed-through": _defect("an upstream 401 is reported to the client as 401 UNAUTHORIZED",
                                           ("GW-VOC-006",), _code("BAD_GATEWAY"), failure_error=_401_PASSED_THROUGH),
    "upstream-status-is-ours": _defect("details.upstream_status holds the status the gateway answers with",
                                       ("GW-VOC-007",), r"upstream_status is 500",
                                       failure_error=_UPSTREAM_STATUS_IS_OURS),
    # -- authentication
    "missing-token-is-403": _defect("a request without a token answers 403 FORBIDDEN", ("GW-AUTH-001",),
                                    _code("UNAUTHORIZED"), authenticator=MissingTokenForbidden),
    "wrong-token-is-401": _defect("a wrong token answers 401 UNAUTHORIZED", ("GW-AUTH-002",), _code("FORBIDDEN"),
                                  authenticator=WrongTokenUnauthorized),
    "compares-token-length": _defect("compares only as many characters as the valid token has", ("GW-AUTH-002",),
                                     _code("FORBIDDEN"), authenticator=ComparesTokenLength),
    "authenticates-after-the-call": _defect("calls the provider before rejecting the token", ("GW-AUTH-003",),
                                            _received(0), gateway=AuthenticatesAfterTheCall),
    "forwards-client-headers": _defect("passes the client's headers to the provider, its Authorization among them",
                                       ("GW-AUTH-004",), r"the client's token reached provider primary",
                                       upstream_call=ForwardsClientHeaders),
    # -- bad input
    "malformed-json-without-body-field": _defect("malformed JSON answers VALIDATION_ERROR with empty details.fields",
                                                 ("GW-INPUT-001",), r"field 'body' not named", validator=NoBodyField),
    "validation-as-422": _defect("validation errors are sent with HTTP 422", ("GW-INPUT-002",),
                                 r"must be sent with HTTP 400, got 422", render_error=_validation_as_422),
    "bool-is-an-integer": _defect("true passes as an integer max_tokens (bool is an int)", ("GW-INPUT-002",),
                                  ACCEPTED, validator=BoolIsAnInteger),
    "body-limit-by-content-length": _defect("the body limit is checked against Content-Length only: a chunked body "
                                            "of any size is read", ("GW-INPUT-003",), ACCEPTED,
                                            read_body=_read_declared_length_only),
    "payload-too-large-without-max-bytes": _defect("the 413 does not say the limit (details.max_bytes)",
                                                   ("GW-INPUT-003",), r"max_bytes", read_body=_read_without_max_bytes),
    "model-pattern-unanchored": _defect("the model pattern is matched without an end anchor", ("GW-INPUT-004",),
                                        ACCEPTED, validator=UnanchoredModelPattern),
    "model-allows-dot-dot": _defect("a model name with a .. path segment passes", ("GW-INPUT-004",), ACCEPTED,
                                    validator=AllowsDotDot),
    "sanitises-content": _defect("strips control characters from message content", ("GW-INPUT-005",),
                                 r"did not receive the message unchanged", validator=SanitisesContent),
    "crashes-on-non-object-message": _defect("assumes every message is an object", ("GW-INPUT-006",),
                                             r"answered with a server error", validator=AssumesObjectMessages),
    # -- retry classification and schedule
    "retries-permanent": _defect("retries 400/401/403/404 like transient failures", ("GW-RETRY-002",), _received(1),
                                 classifier=RetriesEverything),
    "retries-upstream-auth-errors": _defect("retries an upstream 401 or 403", ("GW-RETRY-002",), _received(1),
                                            classifier=RetriesUpstreamAuthErrors),
    "429-not-retried": _defect("429 is missing from the retryable statuses", ("GW-RETRY-001",),
                               r"expected the completion text", classifier=No429Retry),
    "408-409-not-retried": _defect("408 and 409 are missing from the retryable statuses", ("GW-RETRY-001",),
                                   r"expected the completion text", classifier=No408Or409Retry),
    "ignores-x-should-retry": _defect("ignores the provider's x-should-retry header", ("GW-RETRY-003",),
                                      r"received \d+ request\(s\), expected [12]\b", classifier=IgnoresShouldRetry),
    "no-jitter": _defect("retry delays without jitter", ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                         retry_policy=lambda s: NoJitter(s, random.Random())),
    "jitter-constant-factor": _defect("every retry delay is its base times 1.1 (inside the window, never varying)",
                                      ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: ConstantFactor(s, random.Random())),
    "jitter-seeded-per-call": _defect("each call's retries start a new random.Random(seed): every call the same "
                                      "sequence of factors", ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: RetryPolicy(s, SeededPerCall())),
    "jitter-once-per-call": _defect("each call draws its jitter factor once and multiplies every retry's delay by it",
                                  ("GW-RETRY-010",), SAME_JITTER_WITHIN_CALLS,
                                  retry_policy=lambda s: RetryPolicy(s, DrawnOncePerCall())),
    "jitter-by-attempt": _defect("the jitter factor is a fixed function of the attempt (0.9 + 0.04 n)",
                                 ("GW-RETRY-010",), NO_JITTER_ACROSS_CALLS,
                                 retry_policy=lambda s: JitterByAttempt(s, random.Random())),
    "jitter-beyond-bound": _defect("adds 20-50 % jitter on top of each delay instead of +/-10 % around it",
                                   ("GW-RETRY-004",), r"attempt \d+ came too late",
                                   retry_policy=lambda s: JitterAboveBound(s, random.Random())),
    "backoff-cap-8s": _defect("caps the backoff at 8 s (the OpenAI SDK's cap) instead of 30 s", ("GW-RETRY-004",),
                              r"attempt 6 came too early", retry_policy=lambda s: _policy(s, cap=8.0)),
    "backoff-exponent-off-by-one": _defect("delay = 2 ** n s: the first retry waits 2 s", ("GW-RETRY-004",),
                                           r"attempt 2 came too late",
                                           retry_policy=lambda s: ExponentOffByOne(s, random.Random())),
    "too-many-attempts": _defect("one attempt more than allowed", ("GW-RETRY-005",), _received(6),
                                 retry_policy=_seven_attempts),
    "five-attempts": _defect("five attempts in all (max_attempts read as retries minus one)", ("GW-RETRY-005",),
                             _received(6), retry_policy=lambda s: _policy(s, max_attempts=5)),
    "budget-before-the-delay": _defect("the 2-minute budget is checked before the delay, not at the retry's start",
                                       ("GW-RETRY-006",), _received(3),
                                       retry_policy=lambda s: BudgetBeforeTheDelay(s, random.Random())),
    "ignores-retry-after-ms": _defect("waits retry-after and ignores the retry-after-ms beside it",
                                      ("GW-RETRY-008",), r"expected a gap of \d+ spec seconds",
                                      retry_policy=lambda s: IgnoresRetryAfterMs(s, random.Random())),
    "ignores-retry-after": _defect("computed delays even when the upstream sent Retry-After",
                                   ("GW-RETRY-007", "GW-RETRY-008"), r"expected a gap of \d+ spec seconds",
                                   retry_policy=lambda s: IgnoresRetryAfter(s, random.Random())),
    "retry-after-cap-30s": _defect("waits a Retry-After only up to 30 s; a longer one ends the retries",
                                   ("GW-RETRY-007",), r"expected HTTP 200",
                                   retry_policy=lambda s: _policy(s, retry_after_cap=30.0)),
    "waits-any-retry-after": _defect("waits a Retry-After past the cap instead of answering 429",
                                     ("GW-RETRY-009",), r"Retry-After \d+ and retry_after_seconds \d+, expected 90|"
                                                        + _received(1) + "|" + _code("RATE_LIMITED")
                                                        # it answers after the clauses' bound on the call
                                                        + r"|no answer to POST \S+ within",
                                     retry_policy=lambda s: WaitsAnyRetryAfter(s, random.Random())),
    "long-retry-after-not-relayed": _defect("a Retry-After past the cap ends the retries but the client is told to "
                                            "wait the gateway's default 1 s", ("GW-RETRY-009",),
                                            r"Retry-After 1 and retry_after_seconds 1, expected",
                                            failure_error=_LONG_HINT_NOT_RELAYED),
    "long-retry-after-rounded-down": _defect("a Retry-After past the cap is relayed rounded down", ("GW-RETRY-009",),
                                             r"Retry-After 90 and retry_after_seconds 90, expected 91",
                                             failure_error=_LONG_HINT_ROUNDED_DOWN),
    "reset-not-retried": _defect("a connection reset after the request went out is not retried", ("GW-RETRY-011",),
                                 r"expected the completion text", classifier=RetriesOnlyConnectFailures),
    "connection-failure-as-503": _defect("attempts used up on connection failures answer 503 SERVICE_UNAVAILABLE",
                                         ("GW-RETRY-011",), _code("BAD_GATEWAY"),
                                         failure_error=_CONNECTION_FAILURE_AS_503),
    "retries-timeouts": _defect("an attempt that outlived the upstream timeout is retried", ("GW-RETRY-012",),
                                _received(1) + r"|the request timeout allows", classifier=RetriesTimeouts),
    # -- breakers
    "breaker-counts-4xx": _defect("client errors count against the breaker", ("GW-BREAKER-002",), _received(6),
                                  classifier=CountsClientErrors),
    "breaker-counts-upstream-auth-errors": _defect("an upstream 401 or 403 counts against the breaker",
                                                   ("GW-BREAKER-002",), _received(6),
                                                   classifier=CountsUpstreamAuthErrors),
    "breaker-counts-attempts": _defect("the breaker counts failed attempts, and opening stops the call's retries",
                                       ("GW-BREAKER-001",), _received(30), breaker=CountsAttempts),
    "breaker-opens-after-6": _defect("failures > threshold: the breaker opens on the sixth failed operation",
                                     ("GW-BREAKER-001",), r"probe right after it opened (was not rejected|reached)|"
                                                          + _received(30), breaker=OpensAfterSix),
    "breaker-never-half-opens": _defect("an open breaker stays open forever", ("GW-BREAKER-004",), _received(31),
                                        breaker=NeverHalfOpens),
    "half-opens-after-65s": _defect("the breaker half-opens 65 s after opening", ("GW-BREAKER-004",), _received(31),
                                    breaker=HalfOpensAfter65s),
    "failed-trial-keeps-the-old-timer": _defect("a failed trial does not restart the cooldown (the next call is "
                                                "another trial)", ("GW-BREAKER-005",), _received(36),
                                                breaker=FailedTrialKeepsTheOldTimer),
    "half-open-lets-all-through": _defect("a half-open breaker admits every call", ("GW-BREAKER-006",), _received(31),
                                          breaker=HalfOpenLetsAllThrough),
    "success-keeps-count": _defect("a success does not reset the consecutive-failure count",
                                   ("GW-BREAKER-008",), r"expected the completion text", breaker=SuccessKeepsCount),
    "cooldown-50s": _defect("the breaker half-opens 50 s after opening instead of 60 s (its Retry-After still "
                            "counts down 60 s)", ("GW-BREAKER-003", "GW-BREAKER-004"),
                            r"probe shortly before its cooldown ends (was not rejected|reached)",
                            breaker=HalfOpensAfter50s),
    "constant-retry-after": _defect("an open breaker always answers Retry-After 60 (retry_after_seconds 60)",
                                    ("GW-BREAKER-007",),
                                    r"probe shortly before its cooldown ends carried Retry-After 60",
                                    breaker=ConstantRetryAfter),
    "retries-open-breaker": _defect("retries a call the open breaker rejected with the normal backoff instead of "
                                    "failing at once", ("GW-BREAKER-003",),
                                    r"probe right after it opened was answered after .* not at once",
                                    retry_policy=lambda s: RetriesOpenBreaker(s, random.Random())),
    "open-breaker-as-service-unavailable": _defect("an open breaker rejects with 503 SERVICE_UNAVAILABLE",
                                                   ("GW-BREAKER-003",), r"not rejected by the open breaker with 503 "
                                                                        r"CIRCUIT_BREAKER_OPEN",
                                                   render_error=_open_breaker_as_service_unavailable),
    "one-breaker-for-all": _defect("one breaker shared by every provider", ("GW-BREAKER-009",),
                                   r"expected the completion text|" + _received(30), breaker=one_shared_breaker()),
    # -- cleanup
    "leaks-upstream-on-disconnect": _defect("leaves the upstream connection open when the client leaves",
                                            ("GW-STREAM-004", "GW-CLEANUP-001"), CLOSED_LATE,
                                            close_upstream_on_disconnect=False),
    "hang-up-not-cancelled": _defect("a non-streaming call runs on when its client hangs up", ("GW-CLEANUP-001",),
                                     CLOSED_LATE, gateway=RunsOnAfterHangUp),
    "stream-hang-up-noticed-on-write": _defect("a streaming client's hang-up is noticed only when the next write "
                                               "fails", ("GW-STREAM-004", "GW-CLEANUP-001"), CLOSED_LATE,
                                               gateway=DisconnectNoticedOnWrite),
    "failed-status-left-open": _defect("a failed status response is neither read nor closed before the retry",
                                       ("GW-CLEANUP-002",), r"held \d+ connections at once",
                                       upstream_call=FailedStatusLeftOpen),
    "shutdown-waits-for-requests": _defect("on SIGTERM waits for every open request (no shutdown budget)",
                                           ("GW-CLEANUP-003",), r"(still running after|exited .* after) the "
                                                                r"(cleanup timeout|signal)",
                                           shutdown_budget=_no_shutdown_budget),
    # -- timeouts
    "timeout-35s": _defect("upstream timeout of 35 s instead of 25 s", ("GW-TIMEOUT-003",),
                           r"upstream timeout allows|request timeout allows", configure=_slow_timeout),
    "timeout-28s": _defect("upstream timeout of 28 s instead of 25 s (still inside the 30 s request timeout)",
                           ("GW-TIMEOUT-003",), r"dropped provider primary .* upstream timeout allows",
                           configure=_upstream_timeout(28.0)),
    "timeout-20s": _defect("upstream timeout of 20 s", ("GW-TIMEOUT-001",),
                           r"dropped provider primary .* upstream timeout allows", configure=_upstream_timeout(20.0)),
    "silent-provider-as-502": _defect("a provider that stays silent is reported as 502 BAD_GATEWAY",
                                      ("GW-TIMEOUT-001",), _code("GATEWAY_TIMEOUT"),
                                      classifier=TimeoutIsAConnectionFailure),
    "stream-idle-timeout-30s": _defect("a started stream may stay silent 30 s (the answer must start within 25 s)",
                                       ("GW-TIMEOUT-002",), r"dropped provider primary .* upstream timeout allows",
                                       upstream_call=StreamIdleTimeout30s),
    "connect-timeout-for-everything": _defect("the 5 s connect timeout also bounds the wait for the answer",
                                              ("GW-TIMEOUT-004",), r"expected the completion text",
                                              upstream_call=ConnectTimeoutForEverything),
    "timed-out-attempt-left-running": _defect("the upstream timeout answers 504 but leaves the attempt running, "
                                              "connection and all", ("GW-TIMEOUT-005",),
                                              CLOSED_LATE + r"|the gateway still holds \d+ connection",
                                              upstream_call=AbandonsTimedOutAttempt),
    "slot-kept-after-timeout": _defect("a request that timed out keeps its concurrency slot", ("GW-TIMEOUT-005",),
                                       r"expected the completion text", limiter=KeepsSlotOnTimeout),
    # -- limits
    "capacity-off-by-one": _defect("admits one request more than its capacity", ("GW-LIMIT-001", "GW-LIMIT-002"),
                                   _code("SERVICE_UNAVAILABLE") + r"|one rejected and one served",
                                   limiter=OffByOneLimiter),
    "queue-ignored": _defect("the queue is not counted in the capacity: a request that should wait is rejected",
                             ("GW-LIMIT-001", "GW-LIMIT-005"), r"one rejected and one served",
                             limiter=QueueIgnored),
    "queue-served-at-once": _defect("queued requests are sent to the provider at once", ("GW-LIMIT-001",),
                                    r"reached provider primary .* before|one rejected and one served",
                                    limiter=QueueServedAtOnce),
    "current-requests-counts-itself": _defect("details.current_requests counts the rejected request too",
                                              ("GW-LIMIT-002",), r"current_requests \d+ and max_concurrent \d+, "
                                                                 r"expected", limiter=CountsItself),
    "capacity-rejected-as-429": _defect("a request beyond capacity gets 429 RATE_LIMITED", ("GW-LIMIT-002",),
                                        _code("SERVICE_UNAVAILABLE"), limiter=RejectsAs429),
    "waits-before-rejecting": _defect("waits 2 s for a slot before rejecting", ("GW-LIMIT-003",), NOT_AT_ONCE,
                                      limiter=WaitsBeforeRejecting),
    "slot-kept-after-error": _defect("a request that ended in an upstream error keeps its slot", ("GW-LIMIT-004",),
                                     r"expected the completion text", limiter=KeepsSlotOnError),
    "slot-kept-after-hang-up": _defect("a request whose client hung up keeps its slot", ("GW-LIMIT-004",),
                                       r"expected the completion text", limiter=KeepsSlotOnDisconnect),
    "queue-wait-of-10s": _defect("a queued request gives up after 10 s without a slot", ("GW-LIMIT-005",),
                                 r"one rejected and one served", limiter=QueueWaitOf10s),
    # -- streaming
    "streams-not-retried": _defect("a streaming request is never retried", ("GW-STREAM-001",),
                                   r"expected the text .* and the end of the stream", engine=StreamsNotRetried),
    "commits-on-upstream-headers": _defect("the client's stream starts when the provider's headers arrive, before "
                                           "any content", ("GW-STREAM-001",),
                                           r"expected the text .* and the end of the stream",
                                           engine=CommitsOnUpstreamHeaders),
    "two-terminal-events": _defect("the terminal error event is sent twice", ("GW-STREAM-002",),
                                   r"\d+ error events", gateway=TwoTerminalEvents),
    "stream-cut-as-bad-gateway": _defect("a connection broken mid-stream ends the stream with code BAD_GATEWAY",
                                         ("GW-STREAM-002",), r"expected STREAM_INTERRUPTED",
                                         gateway=StreamCutAsBadGateway),
    "delivered-text-without-first-chunk": _defect("details.delivered_text leaves out the first chunk",
                                                  ("GW-STREAM-003",), r"the error event says",
                                                  gateway=FirstChunkNotDelivered),
    "retries-after-first-byte": _defect("retries a stream after bytes reached the client (duplicates)",
                                        ("GW-STREAM-005", "GW-STREAM-006"),
                                        r"not a prefix|repeated|" + _received(1), gateway=RetriesAfterCommit),
    "repeats-a-middle-chunk": _defect("the second content chunk is sent twice", ("GW-STREAM-005",),
                                      r"not a prefix", gateway=RepeatsTheSecondChunk),
    "falls-back-after-first-byte": _defect("a stream that breaks after its first byte continues from the next "
                                           "provider", ("GW-STREAM-006",), _received(0),
                                           gateway=FallsBackAfterCommit),
    "end-of-body-ends-the-answer": _defect("a stream that ends without its end marker is taken as complete",
                                           ("GW-STREAM-007",), r"the last event is not an error event",
                                           wires=_eof_is_the_end),
    "stream-errors-as-events": _defect("a streaming request always starts its stream: failures before the first "
                                       "byte become error events", ("GW-STREAM-008",),
                                       r"got an event stream instead of an HTTP error", gateway=StreamErrorsAsEvents),
    # -- partial results
    "partial-text-of-every-attempt": _defect("details.partial_text holds the text of every attempt",
                                             ("GW-PARTIAL-001",), r"partial text", engine=OneTranscriptPerRequest),
    "partial-tool-calls-without-arguments": _defect("details.partial_tool_calls name the calls without their "
                                                    "arguments", ("GW-PARTIAL-002",), r"arguments",
                                                    failure_error=_TOOL_CALLS_WITHOUT_ARGUMENTS),
    # -- fallbacks
    "ignores-cannot-stream": _defect("asks a provider configured as unable to stream for a stream",
                                     ("GW-FALLBACK-001",), r"asked for a buffered reply|expected the text",
                                     engine=AlwaysAsksToStream),
    "stream-refusal-case-sensitive": _defect("recognises a refusal to stream only in lower case",
                                             ("GW-FALLBACK-002",), r"expected the text",
                                             upstream_call=CaseSensitiveRefusal),
    "falls-back-after-one-failure": _defect("moves to the next provider after one failed attempt",
                                            ("GW-FALLBACK-003",), _received(6), engine=FallsBackAfterOneFailure),
    "open-breaker-ends-the-chain": _defect("an open breaker on the first provider fails the call instead of moving on",
                                           ("GW-FALLBACK-004",), r"expected the completion text",
                                           engine=OpenBreakerEndsTheChain),
    "falls-back-on-client-errors": _defect("a client error from the first provider moves the call to the next",
                                           ("GW-FALLBACK-005",), _code("NOT_FOUND"), engine=FallsBackOnClientErrors),
    "chain-reports-the-first-failure": _defect("when every provider fails, the first one's error is reported",
                                               ("GW-FALLBACK-006",), _code("RATE_LIMITED"),
                                               engine=ReportsTheFirstFailure),
    # -- observability
    "metrics-created-on-first-use": _defect("labelled metrics appear only once something was counted",
                                            ("GW-OBS-001",), r"metrics missing", metrics=CreatedOnFirstUse),
    "retry-log-names-failed-attempt": _defect("the retry log line numbers the attempt that failed", ("GW-OBS-002",),
                                              r"a log line with 'attempt 3/6'", engine=LogsTheFailedAttempt),
    "retries-metric-counts-attempts": _defect("llm_request_retries_total counts every attempt, the first too",
                                              ("GW-OBS-003",), r"llm_request_retries_total\{provider='primary'\} is",
                                              engine=CountsEveryAttempt),
    "streaming-errors-count-retried-failures": _defect("llm_streaming_errors_total also counts failed attempts "
                                                       "retried before the stream started", ("GW-OBS-004",),
                                                       r"llm_streaming_errors_total\{category='transient'\} is",
                                                       engine=CountsRetriedStreamFailures),
    "provider-switch-not-counted": _defect("a fallback after exhausted retries is not counted", ("GW-OBS-005",),
                                           r"llm_fallback_triggered_total\{type='provider_switch'\} is",
                                           engine=CountsOnlyBreakerSwitches),
    "duration-of-successes-only": _defect("llm_request_duration_ms observes only successful requests",
                                          ("GW-OBS-006",), r"llm_request_duration_ms_count sums to",
                                          gateway=DurationOfSuccessesOnly),
    "no-correlation-id-upstream": _defect("does not send the correlation id to the provider", ("GW-OBS-008",),
                                          r"carried the correlation id", upstream_call=NoCorrelationIdUpstream),
    # -- health
    "health-needs-token": _defect("GET /health requires the bearer token", ("GW-HEALTH-001",), r"expected HTTP 200",
                                  readiness_status=401, gateway=HealthNeedsToken),
    "health-behind-limiter": _defect("GET /health takes a concurrency slot", ("GW-HEALTH-002",), r"expected HTTP 200",
                                     gateway=HealthBehindLimiter),
    "health-reports-open-breakers": _defect("GET /health answers 503 while a breaker is open", ("GW-HEALTH-002",),
                                            r"the health route: GET \S+/health -> 503",
                                            gateway=HealthReportsOpenBreakers),
}


def components_for(defect: str | None) -> Components:
    return select(DEFECTS, defect, Components)


__all__ = ["DEFECTS", "Defect", "components_for"]
