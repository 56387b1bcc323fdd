"""The gateway's replaceable parts. The reference uses the defaults; a defect swaps exactly one.

Each field is a factory, so a part that keeps state (breakers, the limiter) is built per gateway.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.gateway.auth import Authenticator
from reference.common.breaker import CircuitBreaker
from reference.gateway.classify import Classifier
from reference.gateway.config import GatewayConfig, Limits, RetrySettings
from reference.common.breaker import BreakerSettings
from reference.gateway.limiter import ConcurrencyLimiter
from reference.gateway.retry import RetryPolicy


def _same(config: GatewayConfig) -> GatewayConfig:
    return config


def _render(error: ServiceError, correlation_id: str) -> Response:
    return error.response(correlation_id)


@dataclass(frozen=True)
class Components:
    classifier: Callable[[], Classifier] = Classifier
    retry_policy: Callable[[RetrySettings], RetryPolicy] = field(
        default=lambda settings: RetryPolicy(settings, random.Random()))
    breaker: Callable[[BreakerSettings, ScaledClock], CircuitBreaker] = CircuitBreaker
    limiter: Callable[[Limits], ConcurrencyLimiter] = ConcurrencyLimiter
    configure: Callable[[GatewayConfig], GatewayConfig] = _same
    authenticator: Callable[[str], Authenticator] = Authenticator
    render_error: Callable[[ServiceError, str], Response] = _render
    # After the first byte reached the client, a failed upstream ends the stream; True would retry.
    retry_after_commit: bool = False
    # On client disconnect the upstream connection is closed; False leaves it open.
    close_upstream_on_disconnect: bool = True
