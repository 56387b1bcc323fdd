"""The fake GPU: one plan file drives a fake `nvidia-smi` and a fake rbee-style worker.

    plan.py        the GPU plan (devices, per-device faults, worker defaults, time scale)
    nvidia_smi.py  answers the hive's `nvidia-smi --query-gpu=...` from the plan
    worker.py      `python -m fault_injection.gpu.worker` with rbee's flags
    journal.py     what the workers saw and did, one JSON line per entry
"""

from __future__ import annotations

import sys
from pathlib import Path

NVIDIA_SMI = Path(__file__).resolve().parent / "bin" / "nvidia-smi"
WORKER_BINARY = Path(__file__).resolve().parent / "bin" / "worker"  # the worker as one executable path


def worker_command(python: str | None = None) -> list[str]:
    """The command a hive runs (rbee's flags appended) to start a fake worker."""
    return [python or sys.executable, "-m", "fault_injection.gpu.worker"]
