"""The reference gateway's configuration (JSON), with DESIGN §2's numbers as defaults (spec seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from reference.common.breaker import BreakerSettings
from reference.common.config import section

ProviderKind = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: ProviderKind
    base_url: str
    api_key: str = ""
    model: str = ""
    streaming: bool = True          # False: the upstream cannot stream, so ask it for buffered replies


@dataclass(frozen=True)
class Limits:
    max_concurrent: int = 64
    max_queue: int = 0
    max_body_bytes: int = 1_048_576
    retry_after: float = 1.0        # what a rejected client is told to wait


@dataclass(frozen=True)
class Timeouts:
    request: float = 30.0
    upstream: float = 25.0          # per attempt: response headers, and each gap between chunks
    cleanup: float = 5.0
    connect: float = 5.0


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 6
    initial: float = 1.0
    multiplier: float = 2.0
    cap: float = 30.0
    jitter: float = 0.1             # delay x U[1 - jitter, 1 + jitter]
    budget: float = 120.0           # never retry past this much elapsed time
    retry_after_cap: float = 60.0   # a longer Retry-After ends the retries


@dataclass(frozen=True)
class GatewayConfig:
    api_token: str
    providers: tuple[ProviderConfig, ...] = ()
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    # POST /admin/reset (with the api token) puts breakers and metrics back to their start state,
    # so one long-running gateway can serve many test scenarios. Off unless configured.
    admin_reset: bool = False


def parse_config(raw: dict[str, Any]) -> GatewayConfig:
    token = raw.get("api_token")
    if not isinstance(token, str) or not token:
        raise ValueError("api_token must be a non-empty string")
    providers = tuple(section(ProviderConfig, p, f"providers[{i}]") for i, p in enumerate(raw.get("providers") or []))
    for provider in providers:
        if provider.kind not in ("openai", "anthropic", "gemini"):
            raise ValueError(f"provider {provider.name}: kind must be openai, anthropic or gemini")
    admin_reset = raw.get("admin_reset", False)
    if not isinstance(admin_reset, bool):
        raise ValueError("admin_reset must be true or false")
    return GatewayConfig(token, providers, section(Limits, raw.get("limits"), "limits"),
                         section(Timeouts, raw.get("timeouts"), "timeouts"),
                         section(RetrySettings, raw.get("retry"), "retry"),
                         section(BreakerSettings, raw.get("breaker"), "breaker"), admin_reset)
