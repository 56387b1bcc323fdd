"""The daemon's start-up check of the GPU devices it is configured to use (HIVE-EXIT-005)."""

from __future__ import annotations

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.hive.config import HiveConfig
from reference.hive.gpu import GpuQueryFailed, NvidiaSmi, device_failed, find_device


def unusable_device(config: HiveConfig, scale: float) -> ServiceError | None:
    """The first configured device that is absent (or an nvidia-smi that fails), once: no wait, no retry."""
    smi = NvidiaSmi(config.nvidia_smi, config.env, ScaledClock(scale).real(config.timeouts.nvidia_smi) + 1.0)
    try:
        devices = smi.query_now()
    except GpuQueryFailed as exc:
        return device_failed(config.devices[0], str(exc))
    for index in config.devices:
        if find_device(devices, index) is None:
            return device_failed(index, f"no device {index} (found {[d.index for d in devices]})")
    return None
