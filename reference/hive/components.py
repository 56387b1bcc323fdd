"""The hive's replaceable parts. The reference uses the defaults; a defect swaps exactly one.

Each field is a factory (or a switch), so a part that keeps state (the breaker, the limiter) is
built per hive.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import CorrelationIdMiddleware
from reference.hive import render
from reference.hive.auth import Authenticator
from reference.common.breaker import CircuitBreaker
from reference.hive.classify import Classifier
from reference.hive.cli import CliBehaviour
from reference.hive.config import HiveConfig, Limits, RetrySettings
from reference.common.breaker import BreakerSettings
from reference.hive.gpu import GpuPreflight, NvidiaSmi
from reference.hive.hub import Hub
from reference.hive.inference import WorkerCall
from reference.hive.limiter import SlotLimiter
from reference.hive.retry import RetryPolicy
from reference.hive.spawn import GpuFallback, Spawner, no_fallback
from reference.hive.startup import unusable_device
from reference.hive.validation import Validator
from reference.hive.workers import Supervisor, Worker

if TYPE_CHECKING:
    from reference.hive.app import Hive


def _same(config: HiveConfig) -> HiveConfig:
    return config


@dataclass(frozen=True)
class Components:
    classifier: Callable[[], Classifier] = Classifier
    retry_policy: Callable[[RetrySettings], RetryPolicy] = field(
        default=lambda settings: RetryPolicy(settings, random.Random()))
    # The spawn path's model download; None: the same hub client, and policy, as POST /v1/models/download.
    spawn_retry_policy: Callable[[RetrySettings], RetryPolicy] | None = None
    breaker: Callable[[BreakerSettings, ScaledClock], CircuitBreaker] = CircuitBreaker
    hub: type[Hub] = Hub
    limiter: Callable[[Limits, Callable[[], list[Worker]]], SlotLimiter] = SlotLimiter
    preflight: Callable[[NvidiaSmi], GpuPreflight] = GpuPreflight
    # After a GPU failure: None (fail fast). A defect returns another request to try instead.
    gpu_fallback: GpuFallback = no_fallback
    spawner: type[Spawner] = Spawner
    supervisor: type[Supervisor] = Supervisor
    worker_call: type[WorkerCall] = WorkerCall
    validator: Callable[[], Validator] = Validator
    # The route handlers; None: reference.hive.app.Hive.
    hive: Callable[..., Hive] | None = None
    middleware: Callable[..., Any] = CorrelationIdMiddleware
    configure: Callable[[HiveConfig], HiveConfig] = _same
    authenticator: Callable[[str], Authenticator] = Authenticator
    render_error: Callable[[ServiceError, str], Response] = render.error_response
    error_event: Callable[[ServiceError, str], bytes] = render.error_event
    # Worker stop: SIGTERM, then SIGKILL after a grace within the cleanup timeout; False never escalates.
    escalate_to_sigkill: bool = True
    # Spec seconds between SIGTERM and SIGKILL; None: what leaves room for the hive's own exit.
    term_grace: float | None = None
    # Daemon SIGTERM/SIGINT: stop every worker before exiting; False leaves them running.
    stop_workers_on_shutdown: bool = True
    # The signals the daemon turns into a graceful shutdown, and whether it then dies of the signal.
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    reraise_stop_signal: bool = False
    # Partial downloads, worker scratch dirs and temp_dir at shutdown are removed; False keeps them.
    remove_temp_files: bool = True
    # At start, with devices configured: the GPU failure that stops the daemon, and its exit code.
    startup_gpu_check: Callable[[HiveConfig, float], ServiceError | None] = unusable_device
    gpu_failure_exit_code: int = 1
    cli: CliBehaviour = CliBehaviour()
