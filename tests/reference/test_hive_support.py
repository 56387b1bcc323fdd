"""A reference hive run as a real process for the hive tests, with everything it started killed.

Its workers are the project's fake GPU workers (fault_injection/gpu), driven by a GPU plan with
one device: 0, 20000 of 24576 MiB free. Faults apply to cuda workers only, as on a real machine.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from fault_injection.gpu import NVIDIA_SMI, worker_command
from fault_injection.gpu.journal import JOURNAL_ENV, JournalEntry, read_journal
from fault_injection.gpu.plan import PLAN_ENV, Device, DeviceFaults, GpuPlan, WorkerDefaults, write_plan
from harness.fakes.facade import SyncHub, start_hub
from harness.fakes.hub import HubModel
from harness.history import History
from harness.portal import BackgroundLoop
from harness.ports import free_port, is_listening
from harness.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.02
TOKEN = "hive-test-token"


def gpu_plan(token_interval: float = 0.05, scale: float = SCALE, **faults: Any) -> GpuPlan:
    """Device 0 with `faults` (DeviceFaults fields); tokens every `token_interval` spec seconds."""
    device = Device(0, memory_total_mib=24576, memory_free_mib=20000, faults=DeviceFaults(**faults))
    return GpuPlan((device,), WorkerDefaults(8, token_interval), scale)


class HiveProcess:
    def __init__(self, root: Path, hub_url: str, plan: GpuPlan | None = None, defect: str | None = None,
                 scale: float = SCALE, **config: Any) -> None:
        self.root, self.port = root, free_port()
        self.temp_dir = root / "tmp"
        self.journal = root / "journal.jsonl"
        self.log_path = root / "hive.log"
        plan_path = write_plan(plan or gpu_plan(scale=scale), root / "gpu-plan.json")
        self.config = {"api_token": TOKEN, "temp_dir": str(self.temp_dir), "models_dir": str(root / "models"),
                       "hub_url": hub_url, "worker_command": worker_command(), "nvidia_smi": str(NVIDIA_SMI),
                       "worker_env": {PLAN_ENV: str(plan_path), JOURNAL_ENV: str(self.journal)},
                       "timeouts": {"ready": 250}, **config}
        (root / "hive.json").write_text(json.dumps(self.config))
        self.command = [sys.executable, "-m", "reference.hive", "--port", str(self.port), "--config",
                        str(root / "hive.json"), "--time-scale", str(scale)]
        if defect:
            self.command += ["--defect", defect]
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(timeout=30, trust_env=False)  # one client: building one costs ~50 ms

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> HiveProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_until(self._healthy, timeout=20, what="the hive answering /v1/health", describe=self.log)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"hive exited {self.process.returncode}:\n{self.log()}")
        if not is_listening(self.port):
            return False
        try:
            return self.client.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN,
             timeout: float = 30) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=timeout)

    def spawn(self, model: str = "hf:Org/Small", backend: str = "cpu", device: int = 0) -> httpx.Response:
        body = {"model_ref": model, "backend": backend, "device": device}
        return self.call("POST", "/v1/workers/spawn", body)

    def workers(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/workers/list").json()["workers"])

    def entries(self, kind: str) -> list[JournalEntry]:
        """The fake workers' own journal, independent of what the hive reports."""
        return [e for e in read_journal(self.journal) if e.kind == kind]

    def started_workers(self) -> list[JournalEntry]:
        return self.entries("start")

    def signal(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=20)

    def kill_everything(self) -> None:
        """The hive and every worker it ever started, by pid: also when a test failed half-way."""
        pids = [e.pid for e in self.started_workers()]
        if self.process is not None:
            pids.append(self.process.pid)
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if any(str(self.port) in a or "worker" in a or "reference.hive" in a for a in proc.cmdline()):
                    proc.kill()
            except psutil.Error:
                pass
        if self.process is not None:
            self.process.wait(timeout=10)
        self.client.close()


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


MODELS = (HubModel("Org/Small", 4096, 1000), HubModel("Org/Tiny", 2048, 500),
          HubModel("Org/Big", 8192, 30000))


@contextmanager
def model_hub(loop: BackgroundLoop) -> Iterator[SyncHub]:
    """The project's fake model hub, with three models: 1000, 500 and 30000 MiB of VRAM."""
    with start_hub(loop, "hub", History(), MODELS) as hub:
        yield hub


@contextmanager
def running_hive(root: Path, hub_url: str, **options: Any) -> Iterator[HiveProcess]:
    hive = HiveProcess(root, hub_url, **options)
    try:
        yield hive.start()
    finally:
        hive.kill_everything()


def terminated_by(sig: int) -> int:
    return 128 + int(sig)


SIGTERM_EXIT = terminated_by(signal.SIGTERM)
SIGKILL_EXIT = terminated_by(signal.SIGKILL)
