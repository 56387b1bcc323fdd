"""The fake nvidia-smi, run through its executable shim exactly as a hive would run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fault_injection.gpu import NVIDIA_SMI
from fault_injection.gpu.journal import of_kind, read_journal
from fault_injection.gpu.plan import Device, GpuPlan, write_plan

QUERY = ["--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits"]
TWO_GPUS = GpuPlan((Device(0, "NVIDIA Fake A100", 81920, 81000), Device(1, "NVIDIA Fake L4", 24576, 1024)))


def smi(tmp_path: Path, plan: GpuPlan | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAULTLINE_WORKER_JOURNAL": str(tmp_path / "journal.jsonl")}
    env.pop("FAULTLINE_GPU_PLAN", None)
    if plan is not None:
        env["FAULTLINE_GPU_PLAN"] = str(write_plan(plan, tmp_path / "plan.json"))
    return subprocess.run([str(NVIDIA_SMI), *args], env=env, capture_output=True, text=True, timeout=30, check=False)


def test_the_hive_query_prints_one_csv_line_per_device(tmp_path: Path) -> None:
    done = smi(tmp_path, TWO_GPUS, *QUERY)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "0, NVIDIA Fake A100, 81920, 81000\n1, NVIDIA Fake L4, 24576, 1024\n"
    assert of_kind(read_journal(tmp_path / "journal.jsonl"), "nvidia_smi")[0].get("argv") == QUERY


def test_header_units_and_device_selection_follow_the_real_format(tmp_path: Path) -> None:
    done = smi(tmp_path, TWO_GPUS, "--query-gpu=index,memory.used", "--format=csv", "-i", "1")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["index, memory.used [MiB]", "1, 23552 MiB"]


def test_list_names_every_gpu_with_a_uuid(tmp_path: Path) -> None:
    lines = smi(tmp_path, TWO_GPUS, "-L").stdout.splitlines()
    assert [line.split(" (UUID: GPU-")[0] for line in lines] == ["GPU 0: NVIDIA Fake A100", "GPU 1: NVIDIA Fake L4"]


def test_an_unknown_field_is_rejected_on_stderr(tmp_path: Path) -> None:
    done = smi(tmp_path, TWO_GPUS, "--query-gpu=index,temperature.hbm", "--format=csv")
    assert done.returncode != 0 and done.stdout == ""
    assert 'Field "temperature.hbm" is not a valid field to query.' in done.stderr


def test_unknown_options_and_a_missing_format_are_rejected(tmp_path: Path) -> None:
    assert smi(tmp_path, TWO_GPUS, "--frobnicate").returncode != 0
    assert smi(tmp_path, TWO_GPUS, "--query-gpu=index").returncode != 0


def test_a_plan_without_devices_is_a_machine_without_a_driver(tmp_path: Path) -> None:
    done = smi(tmp_path, GpuPlan(), *QUERY)
    assert done.returncode == 9
    assert done.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_a_missing_plan_is_a_clear_error_not_a_missing_driver(tmp_path: Path) -> None:
    done = smi(tmp_path, None, *QUERY)
    assert done.returncode == 1 and "FAULTLINE_GPU_PLAN" in done.stderr
