"""Fixtures for the fake GPU's tests: real worker processes, real sockets, a callback receiver.

Every process a test starts is killed by pid when the test ends, also when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fault_injection.gpu import worker_command
from fault_injection.gpu.journal import JournalEntry, read_journal
from fault_injection.gpu.plan import Device, DeviceFaults, GpuPlan, WorkerDefaults, write_plan
from harness.asgi_server import ServedApp, serve_app
from harness.portal import BackgroundLoop
from harness.ports import free_port, is_listening
from harness.wait import wait_until

TIME_SCALE = 0.01  # spec seconds -> real seconds in these tests
BOUND = 10.0       # real seconds any awaited condition gets


def gpu_plan(*faults: DeviceFaults, tokens: int = 5, interval: float = 1.0) -> GpuPlan:
    """One device per `faults` (at least one), spec token interval `interval` s, scaled by TIME_SCALE."""
    per_device = faults or (DeviceFaults(),)
    devices = tuple(Device(i, f"NVIDIA Fake A100 #{i}", 81920, 81000 - i, f) for i, f in enumerate(per_device))
    return GpuPlan(devices, WorkerDefaults(tokens, interval), TIME_SCALE)


@dataclass
class CallbackReceiver:
    served: ServedApp
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.served.url}/v1/workers/ready"


@pytest.fixture
def callback(background_loop: BackgroundLoop) -> Iterator[CallbackReceiver]:
    holder: list[CallbackReceiver] = []

    async def ready(request: Request) -> Response:
        receiver = holder[0]
        receiver.bodies.append(json.loads(await request.body()))
        return JSONResponse({"message": "Worker registered as ready"}, status_code=receiver.status)

    app = Starlette(routes=[Route("/v1/workers/ready", ready, methods=["POST"])])
    served = background_loop.call(serve_app, app)
    holder.append(CallbackReceiver(served))
    try:
        yield holder[0]
    finally:
        background_loop.call(served.stop)


@dataclass
class RunningWorker:
    proc: subprocess.Popen[bytes]
    worker_id: str
    port: int
    journal_path: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def journal(self) -> list[JournalEntry]:
        return read_journal(self.journal_path)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.journal()]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def wait_exit(self, timeout: float = BOUND) -> int:
        return self.proc.wait(timeout)

    def wait_for(self, kind: str) -> JournalEntry:
        return wait_until(lambda: next((e for e in self.journal() if e.kind == kind), None),
                          timeout=BOUND, what=f"journal entry {kind!r}", describe=lambda: str(self.kinds()))

    def wait_listening(self) -> None:
        wait_until(lambda: self.proc.poll() is not None or is_listening(self.port), timeout=BOUND,
                   what=f"worker listening on {self.port}")
        assert self.proc.poll() is None, f"worker exited {self.proc.returncode}: {self.stderr()}"


SpawnWorker = Callable[..., RunningWorker]


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[SpawnWorker]:
    started: list[RunningWorker] = []

    def spawn(plan: GpuPlan | None, callback_url: str, *, backend: str = "cuda", device: int = 0,
              worker_id: str | None = None) -> RunningWorker:
        n = len(started)
        worker_id = worker_id or f"worker-{n}"
        plan_path = tmp_path / f"plan-{n}.json"
        env = {**os.environ, "FAULTLINE_WORKER_JOURNAL": str(tmp_path / "journal.jsonl")}
        env.pop("FAULTLINE_GPU_PLAN", None)
        if plan is not None:
            env["FAULTLINE_GPU_PLAN"] = str(write_plan(plan, plan_path))
        port = free_port()
        stderr_path = tmp_path / f"{worker_id}.stderr"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [*worker_command(), "--worker-id", worker_id, "--model", "/models/tiny.gguf",
                 "--model-ref", "hf:acme/tiny-chat", "--backend", backend, "--device", str(device),
                 "--port", str(port), "--callback-url", callback_url],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        worker = RunningWorker(proc, worker_id, port, tmp_path / "journal.jsonl", stderr_path)
        started.append(worker)
        return worker

    try:
        yield spawn
    finally:
        for worker in started:
            if worker.proc.poll() is None:
                worker.proc.kill()
            worker.proc.wait(BOUND)
