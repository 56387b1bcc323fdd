"""The GPU plan file: round trip, defaults, and errors that name the file, the key and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fault_injection.gpu.plan import Device, DeviceFaults, GpuPlan, PlanError, WorkerDefaults, load_plan, write_plan


def test_a_written_plan_loads_back_equal(tmp_path: Path) -> None:
    plan = GpuPlan((Device(0, "NVIDIA Fake A100", 81920, 81000, DeviceFaults(oom_after_tokens=3)),
                    Device(1, "NVIDIA Fake L4", 24576, 100, DeviceFaults(init_failure=True, ignore_sigterm=True,
                                                                          slow_load_seconds=2.5))),
                   WorkerDefaults(12, 0.2), 0.05)
    assert load_plan(write_plan(plan, tmp_path / "plan.json")) == plan


def test_omitted_keys_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"devices": [{"index": 0}]}))
    plan = load_plan(path)
    assert plan.devices == (Device(0),)
    assert plan.time_scale == 1.0 and plan.worker == WorkerDefaults()
    assert plan.real_seconds(2.0) == 2.0


@pytest.mark.parametrize(("data", "key", "problem"), [
    ({"devices": [{"index": 0, "faults": {"oom_after_token": 3}}]}, "devices[0].faults.oom_after_token",
     "unknown key"),
    ({"devices": [{"name": "x"}]}, "devices[0].index", "is required"),
    ({"devices": [{"index": 0, "memory_total_mib": "lots"}]}, "devices[0].memory_total_mib", "expected an integer"),
    ({"devices": [{"index": 0, "faults": {"init_failure": 1}}]}, "devices[0].faults.init_failure",
     "expected true or false"),
    ({"devices": [{"index": 0}, {"index": 0}]}, "devices[1].index", "appears twice"),
    ({"devices": [{"index": 0, "memory_total_mib": 10, "memory_free_mib": 20}]}, "devices[0].memory_free_mib",
     "exceeds"),
    ({"time_scale": 0}, "time_scale", "must be > 0"),
    ({"worker": {"tokens_per_inference": 0}}, "worker.tokens_per_inference", "must be >= 1"),
    ([], "", "expected an object"),
])
def test_a_bad_plan_names_the_file_key_and_problem(tmp_path: Path, data: object, key: str, problem: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.key == key and problem in caught.value.problem
    assert str(path) in str(caught.value)


def test_missing_and_malformed_files_are_plan_errors(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{devices: ")
    with pytest.raises(PlanError, match="not valid JSON.*line 1"):
        load_plan(tmp_path / "bad.json")
