"""The fake worker's start: GPU fail fast (exit 1, envelope on stderr, never listens), the ready
callback, and the journal that proves what was started."""

from __future__ import annotations

import json
import time

import pytest

from fault_injection.gpu.journal import ready_callbacks, startup_failures, workers_started
from fault_injection.gpu.plan import DeviceFaults, GpuPlan
from harness.ports import is_listening
from tests.gpu.conftest import TIME_SCALE, CallbackReceiver, SpawnWorker, gpu_plan


def stderr_error(text: str) -> dict[str, object]:
    error = json.loads(text.strip().splitlines()[-1])["error"]
    assert set(error) == {"code", "message", "details", "correlation_id"}
    assert "suggested_action" in error["details"]
    return dict(error)


@pytest.mark.parametrize(("plan", "device"), [
    (gpu_plan(DeviceFaults(init_failure=True)), 0),
    (gpu_plan(), 3),          # no such device
    (GpuPlan(), 0),           # no driver at all
], ids=["init-failure", "absent-device", "no-devices"])
def test_a_cuda_worker_on_a_failing_device_exits_1_at_once_and_never_listens(
        spawn_worker: SpawnWorker, callback: CallbackReceiver, plan: GpuPlan, device: int) -> None:
    worker = spawn_worker(plan, callback.url, device=device)
    assert worker.wait_exit() == 1
    error = stderr_error(worker.stderr())
    assert error["code"] == "CUDA_DEVICE_FAILED"
    assert error["details"] == {**error["details"], "device": device, "backend": "cuda"}  # type: ignore[dict-item]
    assert not is_listening(worker.port) and callback.bodies == []
    entries = worker.journal()
    assert [e.kind for e in entries] == ["start", "startup_failed", "exit"]
    assert startup_failures(entries) == ["CUDA_DEVICE_FAILED"] and entries[-1].get("code") == 1


def test_oom_at_load_exits_1_with_gpu_vram_exhausted(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = spawn_worker(gpu_plan(DeviceFaults(oom_at_load=True)), callback.url)
    assert worker.wait_exit() == 1
    error = stderr_error(worker.stderr())
    assert error["code"] == "GPU_VRAM_EXHAUSTED"
    assert callback.bodies == [] and startup_failures(worker.journal()) == ["GPU_VRAM_EXHAUSTED"]


def test_a_ready_worker_posts_rbees_callback_and_serves_health(
        spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    import httpx

    worker = spawn_worker(gpu_plan(), callback.url, worker_id="worker-abc")
    entry = worker.wait_for("ready_callback")
    assert entry.get("status") == 200 and entry.worker_id == "worker-abc"
    assert callback.bodies == [{"worker_id": "worker-abc", "url": worker.url, "model_ref": "hf:acme/tiny-chat",
                                "backend": "cuda", "device": 0}]
    health = httpx.get(f"{worker.url}/health", timeout=5, trust_env=False)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    started = workers_started(worker.journal(), backend="cuda", device=0)
    assert started[0].pid == worker.proc.pid and "--worker-id" in started[0].get("argv")


def test_a_cpu_worker_starts_and_its_backend_is_journaled(
        spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    # Even on a plan whose GPU fails: the journal lets a Then step prove no CPU worker was started.
    worker = spawn_worker(gpu_plan(DeviceFaults(init_failure=True)), callback.url, backend="cpu")
    worker.wait_for("ready_callback")
    entries = worker.journal()
    assert len(workers_started(entries, backend="cpu")) == 1 and workers_started(entries, backend="cuda") == []


def test_a_refused_callback_exits_1(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    callback.status = 401
    worker = spawn_worker(gpu_plan(), callback.url)
    assert worker.wait_exit() == 1
    assert ready_callbacks(worker.journal())[0].get("status") == 401
    assert stderr_error(worker.stderr())["code"] == "WORKER_CALLBACK_FAILED"


def test_slow_load_delays_the_callback_by_the_scaled_time(
        spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = spawn_worker(gpu_plan(DeviceFaults(slow_load_seconds=50)), callback.url)  # 0.5 s real
    loaded = worker.wait_for("ready_callback")
    start = worker.journal()[0]
    assert loaded.t - start.t >= 50 * TIME_SCALE


def test_a_missing_plan_is_a_start_up_failure(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = spawn_worker(None, callback.url)
    assert worker.wait_exit() == 1
    assert stderr_error(worker.stderr())["code"] == "WORKER_MISCONFIGURED"


def test_start_up_failure_is_fast(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    began = time.monotonic()
    assert spawn_worker(gpu_plan(DeviceFaults(init_failure=True)), callback.url).wait_exit() == 1
    assert time.monotonic() - began < 3.0
