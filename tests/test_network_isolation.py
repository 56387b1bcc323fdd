"""Network faults are scoped to their scenario: after real scenarios that cut paths and add
toxics, the proxy server they used holds no proxy and no toxic. The server here is external to
the suite run (--toxiproxy-url), which also proves the switch to a separately running server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fault_injection.toxiproxy.server import ProxyServer
from harness.history import EventKind, History
from harness.plugin import PROJECT_ROOT
from harness.portal import BackgroundLoop
from tests.commands import run_command


@pytest.fixture
def external_proxy() -> Iterator[tuple[str, History]]:
    history = History()
    with BackgroundLoop() as loop:
        server = ProxyServer(recorder=history)
        loop.call(server.start)
        try:
            yield server.url, history
        finally:
            loop.call(server.stop)


def test_no_proxy_or_toxic_survives_a_scenario(external_proxy: tuple[str, History], tmp_path: Path) -> None:
    url, history = external_proxy
    marker = "GW-RETRY-011 or GW-TIMEOUT-001 or GW-TIMEOUT-004 or GW-STREAM-007"
    run = run_command([sys.executable, "-m", "pytest", str(PROJECT_ROOT / "steps" / "test_gateway.py"),
                       "-m", marker, "-q", "-p", "no:cacheprovider", f"--toxiproxy-url={url}",
                       "--reports-dir", str(tmp_path)], cwd=PROJECT_ROOT, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    applied = history.events(EventKind.FAULT_APPLIED)
    assert applied, "the scenarios applied no fault through this server, so the check says nothing"
    # A toxic lives on its proxy, so no proxy left means no toxic left either.
    assert httpx.get(f"{url}/proxies").json() == {}, "a proxy (and its toxics) outlived its scenario"
