"""The fake GPU for one scenario: a plan the Givens shape, written when the hive starts, and
the journal its workers append to. Both paths reach the hive (and the nvidia-smi and workers it
runs) through the environment, as FAULTLINE_GPU_PLAN and FAULTLINE_WORKER_JOURNAL."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fault_injection.gpu import NVIDIA_SMI, WORKER_BINARY, worker_command
from fault_injection.gpu.journal import JournalEntry, read_journal
from fault_injection.gpu.plan import Device, DeviceFaults, GpuPlan, WorkerDefaults, write_plan


@dataclass
class GpuRig:
    devices: dict[int, Device] = field(default_factory=lambda: {0: Device(0)})
    worker: WorkerDefaults = field(default_factory=WorkerDefaults)
    daemon_devices: list[int] = field(default_factory=list)
    driver_missing: bool = False
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faultline-gpu-")))
    _written_at_scale: float | None = None

    @property
    def plan_path(self) -> Path:
        return self.directory / "gpu-plan.json"

    @property
    def journal_path(self) -> Path:
        return self.directory / "worker-journal.jsonl"

    def set_free_vram(self, index: int, free_mib: int) -> None:
        device = self.devices.get(index, Device(index))
        self.devices[index] = dataclasses.replace(device, memory_free_mib=free_mib,
                                                  memory_total_mib=max(device.memory_total_mib, free_mib))
        self._refresh()

    def add_fault(self, index: int, **fault: Any) -> None:
        device = self.devices.get(index, Device(index))
        self.devices[index] = dataclasses.replace(device, faults=dataclasses.replace(device.faults, **fault))
        self._refresh()

    def _refresh(self) -> None:
        """nvidia-smi rereads the plan on every call, so a change after start must reach the file;
        a worker reads it once, when it starts."""
        if self._written_at_scale is not None:
            self._write(self._written_at_scale)

    def _write(self, time_scale: float) -> None:
        devices = () if self.driver_missing else tuple(self.devices[i] for i in sorted(self.devices))
        write_plan(GpuPlan(devices, self.worker, time_scale), self.plan_path)
        self._written_at_scale = time_scale

    def values(self, time_scale: float) -> dict[str, Any]:
        self._write(time_scale)
        return {"worker_command": worker_command(), "worker_binary": str(WORKER_BINARY),
                "nvidia_smi": str(NVIDIA_SMI), "devices": self.daemon_devices,
                "gpu_plan": str(self.plan_path), "worker_journal": str(self.journal_path)}

    def plan_text(self) -> str:
        return self.plan_path.read_text(encoding="utf-8") if self.plan_path.exists() else "(no GPU plan written yet)"

    def journal_text(self) -> str:
        return self.journal_path.read_text(encoding="utf-8") if self.journal_path.exists() else "(no worker started)"

    def journal(self) -> list[JournalEntry]:
        return read_journal(self.journal_path) if self.journal_path.exists() else []

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


__all__ = ["DeviceFaults", "GpuRig"]
