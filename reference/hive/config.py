"""The reference hive's configuration (JSON), with DESIGN §2's numbers as defaults (spec seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference.common.breaker import BreakerSettings
from reference.common.config import section


@dataclass(frozen=True)
class Limits:
    slots_per_worker: int = 1
    max_queue: int = 0
    max_body_bytes: int = 1_048_576
    retry_after: float = 1.0        # what a client turned away at capacity is told to wait


@dataclass(frozen=True)
class Timeouts:
    request: float = 30.0
    inference: float = 25.0         # one worker request, first byte to last
    cleanup: float = 5.0            # SIGTERM to SIGKILL, and the shutdown budget
    ready: float = 30.0             # spawn to the worker's ready callback
    hub: float = 25.0               # one hub attempt
    nvidia_smi: float = 5.0


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int = 5
    initial: float = 1.0
    multiplier: float = 2.0
    jitter_max: float = 1.0         # delay + U[0, jitter_max]


@dataclass(frozen=True)
class HiveConfig:
    api_token: str
    temp_dir: Path
    models_dir: Path
    hub_url: str = ""
    worker_command: tuple[str, ...] = ()
    nvidia_smi: str = "nvidia-smi"
    devices: tuple[int, ...] = ()
    worker_env: tuple[tuple[str, str], ...] = ()
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.worker_env)



def _string_list(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(f"{where} must be a list of strings")
    return tuple(raw)


def parse_config(raw: dict[str, Any]) -> HiveConfig:
    token = raw.get("api_token")
    if not isinstance(token, str) or not token:
        raise ValueError("api_token must be a non-empty string")
    temp_dir = Path(str(raw.get("temp_dir") or Path.cwd() / ".hive-tmp")).resolve()
    # Models outlive a run's scratch space, so by default they sit beside temp_dir, not in it.
    models_dir = Path(str(raw.get("models_dir") or temp_dir.parent / "hive-models")).resolve()
    if models_dir == temp_dir or temp_dir in models_dir.parents:
        raise ValueError("models_dir must be outside temp_dir")
    devices = raw.get("devices") or []
    if not isinstance(devices, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                for d in devices):
        raise ValueError("devices must be a list of device indexes (integers >= 0)")
    env = raw.get("worker_env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError("worker_env must map names to strings")
    hub_url = raw.get("hub_url") or ""
    if not isinstance(hub_url, str):
        raise ValueError("hub_url must be a string")
    return HiveConfig(
        api_token=token, temp_dir=temp_dir, models_dir=models_dir, hub_url=hub_url.rstrip("/"),
        worker_command=_string_list(raw.get("worker_command"), "worker_command"),
        nvidia_smi=str(raw.get("nvidia_smi") or "nvidia-smi"), devices=tuple(devices),
        worker_env=tuple(sorted(env.items())),
        limits=section(Limits, raw.get("limits"), "limits"),
        timeouts=section(Timeouts, raw.get("timeouts"), "timeouts"),
        retry=section(RetrySettings, raw.get("retry"), "retry"),
        breaker=section(BreakerSettings, raw.get("breaker"), "breaker"))
