"""The proxy records connections and faults into the scenario history."""

from __future__ import annotations

import httpx

from collections.abc import Iterator

import pytest

from fault_injection.toxiproxy import ProxyServer
from harness.history import EventKind, History
from tests.proxy.sockets import Upstream, add_toxic, connected, create_proxy, recv_exactly


@pytest.fixture
def api(recorded_server: ProxyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=recorded_server.url, timeout=10, trust_env=False) as client:
        yield client


def test_connections_are_recorded_open_and_closed(api: httpx.Client, upstream: Upstream,
                                                   history: History) -> None:
    listen = create_proxy(api, "db", upstream.address)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"x")
        recv_exactly(server, 1)
        (opened,) = history.wait_for(EventKind.CONNECTION_OPEN, "proxy:db")
        assert opened.source == "proxy:db"
        assert opened.data["upstream"] == upstream.address
        assert opened.data["client"] == f"127.0.0.1:{client.getsockname()[1]:d}"
    closed = history.wait_for(EventKind.CONNECTION_CLOSE, "proxy:db")
    assert len(closed) == 1 and closed[0].data["client"] == opened.data["client"]


def test_toxics_and_down_are_recorded_as_faults(api: httpx.Client, upstream: Upstream,
                                                 history: History) -> None:
    create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "upstream", latency=5)
    api.delete("/proxies/db/toxics/latency_upstream")
    api.patch("/proxies/db", json={"enabled": False})
    api.post("/reset")
    applied = history.events(EventKind.FAULT_APPLIED, "proxy:db")
    removed = history.events(EventKind.FAULT_REMOVED, "proxy:db")
    assert [(e.data["type"], e.data["name"]) for e in applied] == [("latency", "latency_upstream"),
                                                                    ("down", "db")]
    assert applied[0].data["attributes"] == {"latency": 5, "jitter": 0}
    assert [e.data["type"] for e in removed] == ["latency", "down"]
