"""The gateway's replaceable parts. The reference uses the defaults; a defect swaps exactly one.

Each field is a factory, so a part that keeps state (breakers, the limiter) is built per gateway.
The engine and the HTTP surface are parts too: a defect in when to retry, fall back, count or
log, or in how a stream is written, overrides one of their methods.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from reference.common.breaker import BreakerSettings, CircuitBreaker
from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import exception_handlers, read_body
from reference.gateway.auth import Authenticator
from reference.gateway.classify import Classifier
from reference.gateway.config import GatewayConfig, Limits, RetrySettings
from reference.gateway.limiter import ConcurrencyLimiter
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import OperationFailed, failure_error
from reference.gateway.retry import RetryPolicy
from reference.gateway.upstream import UpstreamCall
from reference.gateway.validation import ChatValidator
from reference.gateway.wire import WIRES, Wire

if TYPE_CHECKING:
    from reference.gateway.app import Gateway
    from reference.gateway.engine import Engine


def _same(config: GatewayConfig) -> GatewayConfig:
    return config


def _render(error: ServiceError, correlation_id: str) -> Response:
    return error.response(correlation_id)


def _wires() -> Mapping[str, Wire]:
    return WIRES


def _cleanup_budget(config: GatewayConfig, time_scale: float) -> float:
    """Real seconds after SIGTERM before requests still open are cut: half the cleanup timeout,
    so that cutting them, closing their upstream connections and exiting fit in the rest."""
    return 0.5 * config.timeouts.cleanup * time_scale


@dataclass(frozen=True)
class Components:
    classifier: Callable[[], Classifier] = Classifier
    retry_policy: Callable[[RetrySettings], RetryPolicy] = field(
        default=lambda settings: RetryPolicy(settings, random.Random()))
    breaker: Callable[[BreakerSettings, ScaledClock], CircuitBreaker] = CircuitBreaker
    limiter: Callable[[Limits, ScaledClock], ConcurrencyLimiter] = ConcurrencyLimiter
    configure: Callable[[GatewayConfig], GatewayConfig] = _same
    authenticator: Callable[[str], Authenticator] = Authenticator
    render_error: Callable[[ServiceError, str], Response] = _render
    error_handlers: Callable[[Callable[[ServiceError, str], Response]], dict[Any, Any]] = exception_handlers
    validator: Callable[[], ChatValidator] = ChatValidator
    read_body: Callable[[Request, int], Awaitable[bytes]] = read_body
    failure_error: Callable[[OperationFailed, float], ServiceError] = failure_error
    upstream_call: Callable[..., UpstreamCall] = UpstreamCall
    wires: Callable[[], Mapping[str, Wire]] = _wires
    metrics: Callable[[], GatewayMetrics] = GatewayMetrics
    shutdown_budget: Callable[[GatewayConfig, float], float] = _cleanup_budget
    engine: Callable[..., Engine] | None = None        # None: reference.gateway.engine.Engine
    gateway: Callable[..., Gateway] | None = None      # None: reference.gateway.app.Gateway
    # On client disconnect the upstream connection is closed; False leaves it open.
    close_upstream_on_disconnect: bool = True
