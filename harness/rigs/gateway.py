"""The gateway's world for one scenario: fake providers, a proxy in front of each, and limits.

Providers are declared in chain order (the first is primary, the next its fallback). The rig
renders what the target file's template needs: each provider's kind, proxied URL, key, model,
and whether it can stream.

A gateway that is already running (a url target) was configured before the run, so nothing can
be rendered for it: its target file declares the providers it calls (name, kind, address, key),
the rig's proxies listen at those addresses, and a scenario whose providers or limits differ from
that fixed configuration cannot be run against it (`unmet_by_fixed_configuration` says why).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fault_injection.network import ProxyHandle
from fault_injection.plugin import ScenarioNetwork
from harness.chat import DEFAULT_MODEL
from harness.fakes import Script, SyncProvider, start_provider
from harness.fakes.provider import ProviderKind
from harness.history import History
from harness.portal import BackgroundLoop
from harness.targets.spec import FixedProvider


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
    fixed: tuple[FixedProvider, ...] | None = None  # a running gateway's providers (url targets)

    def unmet_by_fixed_configuration(self, name: str | None = None, kind: str | None = None) -> str | None:
        """Why this scenario (or its provider `name` of `kind`) cannot run against a gateway with a
        fixed configuration, or None when it can (or when the gateway is configured per scenario)."""
        if self.fixed is None:
            return None
        declared = {p.name: p for p in self.fixed}
        fixed = ", ".join(f"{p.name} ({p.kind})" for p in self.fixed) or "none"
        if name is not None:
            if name not in declared or declared[name].kind != kind:
                return f"the running gateway's fixed providers are {fixed}; this scenario needs {name} ({kind})"
            return None
        if self.providers and list(self.providers) != list(declared):  # none: it never reaches a provider
            return f"the running gateway's fixed providers are {fixed}; this scenario declares " \
                   f"{', '.join(self.providers) or 'none'}"
        if self.limits != GatewayLimits() or not all(slot.streaming for slot in self.providers.values()):
            return "this scenario changes the gateway's limits or a provider's streaming, which a running " \
                   "gateway's fixed configuration cannot follow"
        return None

    def add_provider(self, name: str, kind: ProviderKind) -> ProviderSlot:
        if name in self.providers:
            raise ValueError(f"provider {name!r} is declared twice")
        declared = {p.name: p for p in self.fixed or ()}.get(name)
        key = declared.api_key if declared else f"pk-{name}-{secrets.token_hex(8)}"
        fake = start_provider(self.loop, kind, name, self.history, key)
        upstream = fake.url.removeprefix("http://")
        proxy = self.network.create_proxy(f"provider-{name}", upstream, declared.listen if declared else None)
        slot = ProviderSlot(name, kind, fake, proxy, key)
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
                "model": DEFAULT_MODEL,   # what clients ask the gateway for; it routes it to the providers
                "limits": {"max_concurrent": self.limits.max_concurrent, "max_queue": self.limits.max_queue,
                           "max_body_bytes": self.limits.max_body_bytes}}

    def request_log(self) -> str:
        return "\n\n".join(f"provider {name} ({slot.kind}) at {slot.fake.url}, through proxy {slot.url}:\n"
                           + slot.fake.request_log(self.history.created)
                           for name, slot in self.providers.items()) or "(no provider declared)"

    def close(self) -> None:
        for slot in self.providers.values():
            slot.fake.stop()
