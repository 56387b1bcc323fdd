"""Spawning a worker (seed 000 Pattern 3, GPU fail fast):

validate -> ensure the model -> VRAM preflight (cuda only, before any process starts) -> run the
worker -> wait for its ready callback while watching the process. A GPU failure is final: no
retry, no CPU fallback, no other device; only a defect's fallback hook ever tries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.hive.codes import (CUDA_DEVICE_FAILED, GPU_VRAM_EXHAUSTED, WORKER_SPAWN_FAILED, hive_error,
                                  is_gpu_failure)
from reference.hive.gpu import CHECK_DRIVERS, GpuPreflight, VramShortfall
from reference.hive.hub import ModelInfo
from reference.hive.models import ModelStore
from reference.hive.validation import SpawnRequest
from reference.hive.workers import Supervisor, Worker

log = logging.getLogger("reference.hive.spawn")
SMALLER_MODEL = "Use a smaller model or explicitly select the CPU backend"
GpuFallback = Callable[[SpawnRequest, ServiceError], "SpawnRequest | None"]


def no_fallback(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return None


def worker_envelope(lines: list[str]) -> dict[str, Any] | None:
    """The last error envelope the worker printed on stderr, if any."""
    for line in reversed(lines):
        start = line.find("{")
        if start < 0:
            continue
        try:
            body = json.loads(line[start:])
        except ValueError:
            continue
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return error
    return None


@dataclass
class Spawner:
    clock: ScaledClock
    models: ModelStore
    preflight: GpuPreflight
    supervisor: Supervisor
    ready_timeout: float
    callback_url: str
    fallback: GpuFallback = no_fallback

    async def spawn(self, request: SpawnRequest, cid: str) -> Worker:
        info, _ = await self.models.ensure(request.model, cid)
        try:
            return await self._spawn_once(request, info, cid)
        except ServiceError as error:
            retry = self.fallback(request, error) if is_gpu_failure(error) else None
            if retry is None:
                raise
            log.warning("GPU spawn failed (%s); trying backend=%s device=%d", error.code, retry.backend,
                        retry.device)
            return await self._spawn_once(retry, info, cid)

    async def _spawn_once(self, request: SpawnRequest, info: ModelInfo, cid: str) -> Worker:
        available: int | None = None
        if request.backend == "cuda":
            try:
                device = await self.preflight.check(request.device, info.required_vram_mib, info.ref)
                available = device.free_mib
            except VramShortfall as short:
                raise await self.vram_exhausted(request, short.required_mib, short.device.free_mib) from None
        if not self.supervisor.command:
            raise hive_error(WORKER_SPAWN_FAILED, "no worker_command is configured",
                             {"model": info.ref, "backend": request.backend, "device": request.device,
                              "suggested_action": "Configure the hive's worker_command"})
        try:
            model_path = self.models.path(request.model, info)
            worker = await self.supervisor.start(request, model_path, self.callback_url)
        except OSError as exc:
            raise hive_error(WORKER_SPAWN_FAILED, f"the worker command could not be run: {exc.strerror}",
                             {"model": info.ref, "backend": request.backend, "device": request.device,
                              "suggested_action": "Check the hive's worker_command"}) from None
        try:
            await self._wait_ready(worker)
        except BaseException:
            await self.supervisor.stop(worker)
            raise
        if not worker.alive:
            raise await self.ended_early(worker, info, available)
        return worker

    async def _wait_ready(self, worker: Worker) -> None:
        deadline = time.monotonic() + self.clock.real(self.ready_timeout)
        try:
            await asyncio.wait_for(worker.became_ready.wait(), self.clock.real(self.ready_timeout))
        except TimeoutError:
            raise self.not_ready(worker, "no ready callback") from None
        # rbee workers call back before they listen; route to one only once its port answers.
        while worker.alive and not await _listening(worker.port):
            if time.monotonic() >= deadline:
                raise self.not_ready(worker, "its port never opened")
            await asyncio.sleep(0.01)

    def not_ready(self, worker: Worker, why: str) -> ServiceError:
        return hive_error(WORKER_SPAWN_FAILED, f"the worker was not ready in {self.ready_timeout:g}s: {why}",
                          {"worker_id": worker.id, "model": worker.request.model.text,
                           "backend": worker.request.backend, "device": worker.request.device,
                           "suggested_action": "Check the worker's log; the model may be too slow to load"})

    async def ended_early(self, worker: Worker, info: ModelInfo, available: int | None) -> ServiceError:
        try:  # its last words may still sit in the pipe
            await asyncio.wait_for(worker.stderr_closed.wait(), self.clock.real(1.0) + 0.2)
        except TimeoutError:
            pass
        reported = worker_envelope(list(worker.stderr_tail)) or {}
        code = str(reported.get("code") or "")
        details = reported.get("details")
        given: dict[str, Any] = details if isinstance(details, dict) else {}
        request = worker.request
        base = {"worker_id": worker.id, "exit_code": worker.exit_code, "model": info.ref,
                "backend": request.backend, "device": request.device}
        if code == "GPU_VRAM_EXHAUSTED":
            required = given.get("required_vram_mib", info.required_vram_mib)
            free = given.get("available_vram_mib", available)
            return await self.vram_exhausted(request, required, free, {**given, **base})
        if code == "CUDA_DEVICE_FAILED":
            return hive_error(CUDA_DEVICE_FAILED, f"CUDA device {request.device} failed to initialise",
                              {**given, **base, "suggested_action": CHECK_DRIVERS})
        return hive_error(WORKER_SPAWN_FAILED, f"the worker exited {worker.exit_code} before it was ready",
                          {**base, "worker_code": code or None,
                           "suggested_action": "Check the worker's log and the model files"})

    async def vram_exhausted(self, request: SpawnRequest, required: Any, available: Any,
                             extra: dict[str, Any] | None = None) -> ServiceError:
        alternatives = await self.alternatives(request, available)
        return hive_error(GPU_VRAM_EXHAUSTED,
                          f"GPU {request.device} has {available} MiB free; "
                          f"{request.model.text} needs {required} MiB",
                          {**(extra or {}), "required_vram_mib": required, "available_vram_mib": available,
                           "model": request.model.text, "device": request.device,
                           "alternative_models": alternatives, "suggested_action": SMALLER_MODEL})

    async def alternatives(self, request: SpawnRequest, available: Any) -> list[str]:
        if not isinstance(available, (int, float)):
            return []
        candidates = self.models.known()
        fitting = {m.ref for m in candidates
                   if m.ref != request.model.text and m.required_vram_mib is not None
                   and m.required_vram_mib <= available}
        return sorted(fitting)


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True
