"""The hive's world for one scenario: a fake model hub behind a proxy, and the fake GPU.

The GPU side (plan, fake nvidia-smi, fake worker and its journal) is the `GpuRig`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fault_injection.network import ProxyHandle
from fault_injection.plugin import ScenarioNetwork
from harness.fakes import HubModel, Script, SyncHub, start_hub
from harness.history import History
from harness.portal import BackgroundLoop
from harness.rigs.gpu import GpuRig

DEFAULT_MODEL = HubModel("acme/tiny-chat", size_bytes=256 * 1024, required_vram_mib=2048)
READY_TIMEOUT = 30.0          # spec seconds: the hive's own default wait for a worker's ready callback
WORKER_START_BUDGET = 5.0     # real seconds: the fake worker is a Python process; a loaded 2-core machine
                              # has taken 1.4 s to start one, and a hive must not give up on it for that


def ready_timeout(time_scale: float) -> float:
    """The ready timeout the harness configures (spec seconds): the clause leaves it to the hive,
    and at small time scales 30 spec seconds would be less real time than the fake worker needs."""
    return max(READY_TIMEOUT, WORKER_START_BUDGET / time_scale)


def model_ref(repo_id: str) -> str:
    return f"hf:{repo_id}"


@dataclass
class HiveLimits:
    slots_per_worker: int = 1
    max_queue: int = 0


@dataclass
class HiveRig:
    loop: BackgroundLoop
    history: History
    network: ScenarioNetwork
    limits: HiveLimits = field(default_factory=HiveLimits)
    gpu: GpuRig = field(default_factory=GpuRig)
    time_scale: float = 1.0
    # Where the hive keeps the models it downloads, so a Then step can look for what a failed download left.
    models_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faultline-models-")))
    _hub: SyncHub | None = None
    _hub_proxy: ProxyHandle | None = None

    @property
    def hub(self) -> SyncHub:
        if self._hub is None:
            self._hub = start_hub(self.loop, "hub", self.history, [DEFAULT_MODEL])
            self._hub_proxy = self.network.create_proxy("hub", self._hub.url.removeprefix("http://"))
        return self._hub

    def offer(self, model: HubModel) -> None:
        self.hub.fake.add_model(model)

    def script_hub(self, script: Script, channel: str = "metadata") -> None:
        self.hub.set_script(script, channel)

    def values(self) -> dict[str, Any]:
        _ = self.hub  # every hive gets a hub, even when a scenario never talks about it
        assert self._hub_proxy is not None
        return {"hub_url": f"http://{self._hub_proxy.listen}",
                "limits": {"slots_per_worker": self.limits.slots_per_worker, "max_queue": self.limits.max_queue},
                "timeouts": {"ready": ready_timeout(self.time_scale)},
                "models_dir": str(self.models_dir),
                **self.gpu.values(self.time_scale)}

    def request_log(self) -> str:
        if self._hub is None:
            return "(the hub was never started)"
        return f"hub at {self._hub.url}:\n" + self._hub.request_log(self.history.created)

    def close(self) -> None:
        if self._hub is not None:
            self._hub.stop()
        self.gpu.close()
        shutil.rmtree(self.models_dir, ignore_errors=True)
