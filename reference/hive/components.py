"""The hive's replaceable parts. The reference uses the defaults; a defect swaps exactly one.

Each field is a factory (or a switch), so a part that keeps state (the breaker, the limiter) is
built per hive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.hive import render
from reference.hive.auth import Authenticator
from reference.common.breaker import CircuitBreaker
from reference.hive.classify import Classifier
from reference.hive.config import HiveConfig, Limits, RetrySettings
from reference.common.breaker import BreakerSettings
from reference.hive.gpu import GpuPreflight, NvidiaSmi
from reference.hive.limiter import SlotLimiter
from reference.hive.retry import RetryPolicy
from reference.hive.spawn import GpuFallback, no_fallback
from reference.hive.workers import Worker


def _same(config: HiveConfig) -> HiveConfig:
    return config


@dataclass(frozen=True)
class Components:
    classifier: Callable[[], Classifier] = Classifier
    retry_policy: Callable[[RetrySettings], RetryPolicy] = field(
        default=lambda settings: RetryPolicy(settings, random.Random()))
    breaker: Callable[[BreakerSettings, ScaledClock], CircuitBreaker] = CircuitBreaker
    limiter: Callable[[Limits, Callable[[], list[Worker]]], SlotLimiter] = SlotLimiter
    preflight: Callable[[NvidiaSmi], GpuPreflight] = GpuPreflight
    # After a GPU failure: None (fail fast). A defect returns another request to try instead.
    gpu_fallback: GpuFallback = no_fallback
    configure: Callable[[HiveConfig], HiveConfig] = _same
    authenticator: Callable[[str], Authenticator] = Authenticator
    render_error: Callable[[ServiceError, str], Response] = render.error_response
    # Worker stop: SIGTERM, then SIGKILL after a grace within the cleanup timeout; False never escalates.
    escalate_to_sigkill: bool = True
    # Spec seconds between SIGTERM and SIGKILL; None: what leaves room for the hive's own exit.
    term_grace: float | None = None
    # Daemon SIGTERM/SIGINT: stop every worker before exiting; False leaves them running.
    stop_workers_on_shutdown: bool = True
    # Partial downloads, worker scratch dirs and temp_dir at shutdown are removed; False keeps them.
    remove_temp_files: bool = True
    # What the CLI exits with when the hive or its own clock says timeout.
    cli_timeout_exit_code: int = 124
