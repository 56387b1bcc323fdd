"""GPU facts from nvidia-smi, and the VRAM preflight that runs before any worker starts.

    nvidia-smi --query-gpu=index,name,memory.total,memory.free --format=csv,noheader,nounits
A device that is absent, or an nvidia-smi that fails, is CUDA_DEVICE_FAILED; too little free VRAM
is a shortfall the spawn turns into GPU_VRAM_EXHAUSTED (with alternatives). Never a fallback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from reference.common.errors import ServiceError
from reference.hive.codes import CUDA_DEVICE_FAILED, hive_error

QUERY = ["--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits"]
CHECK_DRIVERS = "Check GPU drivers and device availability, or explicitly select the CPU backend"


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    total_mib: int
    free_mib: int


class GpuQueryFailed(Exception):
    pass


@dataclass
class VramShortfall(Exception):
    device: GpuDevice
    required_mib: int


def parse_devices(text: str) -> list[GpuDevice]:
    devices = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            raise GpuQueryFailed(f"unexpected nvidia-smi line with {len(parts)} fields")
        try:
            devices.append(GpuDevice(int(parts[0]), parts[1], int(float(parts[2])), int(float(parts[3]))))
        except ValueError:
            raise GpuQueryFailed("nvidia-smi printed a value that is not a number") from None
    return devices


class NvidiaSmi:
    def __init__(self, path: str, env: Mapping[str, str], timeout: float) -> None:
        self.path, self.timeout = path, timeout  # timeout in real seconds
        self.env = {**os.environ, **env}

    async def query(self) -> list[GpuDevice]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.path, *QUERY, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise GpuQueryFailed(f"cannot run nvidia-smi: {exc.strerror}") from None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GpuQueryFailed("nvidia-smi did not answer in time") from None
        if proc.returncode != 0:
            raise GpuQueryFailed(f"nvidia-smi exited {proc.returncode}")
        return parse_devices(out.decode("utf-8", "replace"))

    def query_now(self) -> list[GpuDevice]:
        """For the daemon's start-up check, before any event loop runs."""
        try:
            done = subprocess.run([self.path, *QUERY], env=self.env, capture_output=True,
                                  timeout=self.timeout, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise GpuQueryFailed(f"cannot run nvidia-smi: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise GpuQueryFailed("nvidia-smi did not answer in time") from None
        if done.returncode != 0:
            raise GpuQueryFailed(f"nvidia-smi exited {done.returncode}")
        return parse_devices(done.stdout.decode("utf-8", "replace"))


def device_failed(device: int, reason: str, model: str | None = None) -> ServiceError:
    return hive_error(CUDA_DEVICE_FAILED, f"CUDA device {device} is not usable: {reason}",
                      {"device": device, "backend": "cuda", "model": model, "reason": reason,
                       "suggested_action": CHECK_DRIVERS})


def find_device(devices: list[GpuDevice], index: int) -> GpuDevice | None:
    return next((d for d in devices if d.index == index), None)


class GpuPreflight:
    def __init__(self, smi: NvidiaSmi) -> None:
        self.smi = smi

    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        """The device, if it exists and has room; raises CUDA_DEVICE_FAILED or VramShortfall."""
        try:
            devices = await self.smi.query()
        except GpuQueryFailed as exc:
            raise device_failed(device, str(exc), model) from None
        found = find_device(devices, device)
        if found is None:
            raise device_failed(device, f"no device {device} (found {[d.index for d in devices]})", model)
        if required_mib is not None and required_mib > found.free_mib:
            raise VramShortfall(found, required_mib)
        return found
