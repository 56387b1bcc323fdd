"""The gateway's world for one scenario: fake providers, a proxy in front of each, and limits.

Providers are declared in chain order (the first is primary, the next its fallback). The rig
renders what the target file's template needs: each provider's kind, proxied URL, key, model,
and whether it can stream.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from harness.fakes import Script, SyncProvider, start_provider
from harness.fakes.provider import ProviderKind
from harness.history import History
from harness.portal import BackgroundLoop
from fault_injection.network import ProxyHandle
from fault_injection.plugin import ScenarioNetwork


@dataclass
class ProviderSlot:
    name: str
    kind: ProviderKind
    fake: SyncProvider
    proxy: ProxyHandle
    api_key: str
    streaming: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.proxy.listen}"

    def values(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "url": self.url, "api_key": self.api_key,
                "model": f"{self.kind}-test-model", "streaming": self.streaming}


@dataclass
class GatewayLimits:
    max_concurrent: int = 64
    max_queue: int = 0
    max_body_bytes: int = 1_048_576


@dataclass
class GatewayRig:
    loop: BackgroundLoop
    history: History
    network: ScenarioNetwork
    providers: dict[str, ProviderSlot] = field(default_factory=dict)
    limits: GatewayLimits = field(default_factory=GatewayLimits)

    def add_provider(self, name: str, kind: ProviderKind) -> ProviderSlot:
        if name in self.providers:
            raise ValueError(f"provider {name!r} is declared twice")
        key = f"pk-{name}-{secrets.token_hex(8)}"
        fake = start_provider(self.loop, kind, name, self.history, key)
        upstream = fake.url.removeprefix("http://")
        slot = ProviderSlot(name, kind, fake, self.network.create_proxy(f"provider-{name}", upstream), key)
        self.providers[name] = slot
        return slot

    def provider(self, name: str) -> ProviderSlot:
        try:
            return self.providers[name]
        except KeyError:
            raise LookupError(f"provider {name!r} is not declared; start the scenario with "
                              f"'Given provider \"{name}\" speaks the <kind> wire format'") from None

    def script(self, name: str, script: Script) -> None:
        self.provider(name).fake.set_script(script)

    def values(self) -> dict[str, Any]:
        return {"providers": [slot.values() for slot in self.providers.values()],
                "limits": {"max_concurrent": self.limits.max_concurrent, "max_queue": self.limits.max_queue,
                           "max_body_bytes": self.limits.max_body_bytes}}

    def close(self) -> None:
        for slot in self.providers.values():
            slot.fake.stop()
