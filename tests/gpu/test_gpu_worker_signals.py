"""How the fake worker ends: signals journaled, clean exit 0, or SIGKILL when it ignores SIGTERM."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from fault_injection.gpu.journal import exits, signals_received
from fault_injection.gpu.plan import DeviceFaults
from harness.ports import is_listening
from tests.gpu.conftest import BOUND, CallbackReceiver, RunningWorker, SpawnWorker, gpu_plan


def ready(spawn_worker: SpawnWorker, callback: CallbackReceiver, faults: DeviceFaults) -> RunningWorker:
    worker = spawn_worker(gpu_plan(faults), callback.url)
    worker.wait_for("ready_callback")
    worker.wait_listening()
    return worker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_is_journaled_and_the_worker_exits_0(spawn_worker: SpawnWorker, callback: CallbackReceiver,
                                                      sig: signal.Signals) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults())
    os.kill(worker.proc.pid, sig)
    assert worker.wait_exit() == 0
    entries = worker.journal()
    assert signals_received(entries, worker.worker_id) == [sig.name]
    assert exits(entries, worker.worker_id) == [0] and entries[-1].get("reason") == sig.name
    assert not is_listening(worker.port) and worker.stderr() == ""


def test_ignore_sigterm_keeps_running_until_sigkill(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(ignore_sigterm=True))
    os.kill(worker.proc.pid, signal.SIGTERM)
    assert worker.wait_for("signal").fields == {"signal": "SIGTERM", "ignored": True}
    # Handled and ignored: it still answers after the signal was processed.
    assert httpx.get(f"{worker.url}/health", timeout=BOUND, trust_env=False).status_code == 200
    assert worker.proc.poll() is None
    worker.proc.send_signal(signal.SIGKILL)
    assert worker.wait_exit() == -signal.SIGKILL  # a shell reports 137
    assert exits(worker.journal()) == []  # a killed worker writes no exit entry


def test_a_stream_that_hangs_does_not_hold_up_a_sigterm(spawn_worker: SpawnWorker,
                                                        callback: CallbackReceiver) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(hang_after_tokens=0))
    hung = threading.Event()

    def consume() -> None:
        body = {"job_id": "j", "prompt": "p", "max_tokens": 5}
        try:
            with httpx.Client(timeout=BOUND, trust_env=False) as client:
                with client.stream("POST", f"{worker.url}/v1/inference", json=body) as answer:
                    for _ in answer.iter_lines():
                        hung.set()
        except httpx.HTTPError:
            pass

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    worker.wait_for("inference_fault")
    os.kill(worker.proc.pid, signal.SIGTERM)
    assert worker.wait_exit() == 0
    reader.join(BOUND)
    assert hung.is_set() and not reader.is_alive()
    assert "Traceback" not in worker.stderr()
    assert worker.wait_for("inference_aborted").fields == {"job_id": "j", "tokens_sent": 0}


def test_sigterm_during_a_slow_load_exits_0_without_a_callback(spawn_worker: SpawnWorker,
                                                               callback: CallbackReceiver) -> None:
    worker = spawn_worker(gpu_plan(DeviceFaults(slow_load_seconds=10_000)), callback.url)
    worker.wait_for("loading")
    os.kill(worker.proc.pid, signal.SIGTERM)
    assert worker.wait_exit() == 0
    assert callback.bodies == [] and signals_received(worker.journal()) == ["SIGTERM"]


def test_post_shutdown_exits_0(spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults())
    answer = httpx.post(f"{worker.url}/v1/shutdown", timeout=BOUND, trust_env=False)
    assert answer.status_code == 200
    assert worker.wait_exit() == 0
    assert [e.kind for e in worker.journal()][-2:] == ["shutdown_requested", "exit"]
