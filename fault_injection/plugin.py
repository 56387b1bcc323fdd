"""Network fault fixtures: one proxy server per test session (embedded, or a real Toxiproxy
given by --toxiproxy-url / FAULTLINE_TOXIPROXY_URL), and per scenario the proxies it creates,
all deleted when the scenario ends so no proxy or toxic outlives it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from fault_injection.network import NetworkFaults, ProxyHandle, ToxiproxyNetwork
from fault_injection.toxics import ToxicSpec
from fault_injection.toxiproxy.server import ProxyServer
from harness.history import History, RecorderSwitch
from harness.portal import BackgroundLoop
from harness.report.evidence import Evidence

URL_ENV = "FAULTLINE_TOXIPROXY_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("faultline").addoption(
        "--toxiproxy-url", default=os.environ.get(URL_ENV),
        help=f"use this running Toxiproxy server instead of the embedded one (env {URL_ENV})")


@dataclass
class ProxyService:
    url: str
    recorder: RecorderSwitch = field(default_factory=RecorderSwitch)
    embedded: bool = True


@pytest.fixture(scope="session")
def proxy_service(request: pytest.FixtureRequest, background_loop: BackgroundLoop) -> Iterator[ProxyService]:
    external = request.config.getoption("toxiproxy_url")
    if external:
        yield ProxyService(external.rstrip("/"), embedded=False)
        return
    switch = RecorderSwitch()
    server = ProxyServer(recorder=switch)
    background_loop.call(server.start)
    try:
        yield ProxyService(server.url, switch)
    finally:
        background_loop.call(server.stop)


class ScenarioNetwork:
    """The proxies one scenario made; closing deletes exactly those (others may share the server)."""

    def __init__(self, api: ToxiproxyNetwork, prefix: str) -> None:
        self.api, self.prefix = api, prefix
        self.created: dict[str, ProxyHandle] = {}

    def create_proxy(self, name: str, upstream: str, listen: str | None = None) -> ProxyHandle:
        handle = self.api.create_proxy(f"{self.prefix}{name}", upstream, listen)
        self.created[name] = handle
        return handle

    def proxy_name(self, name: str) -> str:
        return self.created[name].name

    def add_toxic(self, name: str, toxic: ToxicSpec) -> None:
        self.api.add_toxic(self.proxy_name(name), toxic)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.api.set_enabled(self.proxy_name(name), enabled)

    def describe_toxics(self) -> str:
        """The toxics on this scenario's proxies, as the proxy server reports them now."""
        lines = []
        for name, handle in self.created.items():
            toxics = self.api.toxics(handle.name)
            lines.append(f"{name} ({handle.listen} -> {handle.upstream}): "
                         + (json.dumps(toxics, sort_keys=True) if toxics else "no toxic"))
        return "\n".join(lines) or "(no proxy created)"

    def close(self) -> None:
        for handle in self.created.values():
            self.api.delete_proxy(handle.name)
        self.created.clear()


@pytest.fixture
def network(proxy_service: ProxyService, history: History, request: pytest.FixtureRequest,
            evidence: Evidence) -> Iterator[ScenarioNetwork]:
    proxy_service.recorder.attach(history)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    api = ToxiproxyNetwork(proxy_service.url)
    scenario = ScenarioNetwork(api, f"{worker}-{abs(hash(request.node.nodeid)) % 10**8}-")
    evidence.register("active toxics", scenario.describe_toxics)
    try:
        yield scenario
    finally:
        scenario.close()
        api.close()
        proxy_service.recorder.attach(None)


__all__ = ["NetworkFaults", "ScenarioNetwork", "network", "proxy_service"]
