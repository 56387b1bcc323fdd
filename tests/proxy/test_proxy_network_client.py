"""The harness-facing `NetworkFaults` interface over the Toxiproxy API, against the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fault_injection.network import NetworkFaultError, NetworkFaults, ProxyHandle, ToxiproxyNetwork
from fault_injection.toxics import (Bandwidth, LimitData, Latency, Noop, ResetPeer, Slicer, SlowClose,
                                    Timeout, ToxicSpec)
from fault_injection.toxiproxy import ProxyServer
from tests.proxy.sockets import Stopwatch, Upstream, connect, connected, recv_exactly, recv_until_closed


@pytest.fixture
def network(proxy_server: ProxyServer) -> Iterator[ToxiproxyNetwork]:
    with ToxiproxyNetwork(proxy_server.url) as client:
        yield client


def test_it_satisfies_the_protocol(network: ToxiproxyNetwork) -> None:
    faults: NetworkFaults = network
    assert faults is network


def test_create_proxy_returns_where_the_sut_connects(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    handle = network.create_proxy("provider_a", upstream.address)
    assert isinstance(handle, ProxyHandle)
    assert handle.host == "127.0.0.1" and handle.port > 0 and handle.upstream == upstream.address
    with connected(handle.listen, upstream) as (client, server):
        client.sendall(b"hi")
        assert recv_exactly(server, 2) == b"hi"


def test_duplicate_proxy_raises_with_the_api_message(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    network.create_proxy("p", upstream.address)
    with pytest.raises(NetworkFaultError) as caught:
        network.create_proxy("p", upstream.address)
    assert caught.value.status == 409 and caught.value.message == "proxy already exists"


@pytest.mark.parametrize("toxic", [
    Latency(100, 10), Bandwidth(100, stream="upstream"), SlowClose(10), Timeout(0), ResetPeer(5),
    Slicer(10, 2, 5), LimitData(1000), Noop(), Latency(1, label="custom", toxicity=0.5),
], ids=lambda t: t.name)
def test_every_toxic_type_round_trips_through_the_api(network: ToxiproxyNetwork, upstream: Upstream,
                                                       toxic: ToxicSpec) -> None:
    network.create_proxy("p", upstream.address)
    network.add_toxic("p", toxic)
    assert network.toxics("p") == [{**toxic.to_api(), "toxicity": toxic.toxicity}]
    network.remove_toxic("p", toxic.name)
    assert network.toxics("p") == []


def test_added_latency_is_felt_and_removal_restores(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    handle = network.create_proxy("p", upstream.address)
    network.add_toxic("p", Latency(200))
    with connected(handle.listen, upstream) as (client, server):
        with Stopwatch() as slow:
            server.sendall(b"x")
            recv_exactly(client, 1)
        network.remove_toxic("p", "latency_downstream")
        with Stopwatch() as fast:
            server.sendall(b"x")
            recv_exactly(client, 1)
    assert slow.elapsed >= 0.19 and fast.elapsed < 0.15


def test_update_toxic_changes_attributes(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    network.create_proxy("p", upstream.address)
    network.add_toxic("p", LimitData(10))
    network.update_toxic("p", LimitData(20, toxicity=0.5))
    (toxic,) = network.toxics("p")
    assert toxic["attributes"] == {"bytes": 20} and toxic["toxicity"] == 0.5


def test_set_enabled_takes_the_proxy_down_and_up(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    handle = network.create_proxy("p", upstream.address)
    with connected(handle.listen, upstream) as (client, _server):
        network.set_enabled("p", False)
        assert recv_until_closed(client) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(handle.listen).close()
    network.set_enabled("p", True)
    with connected(handle.listen, upstream) as (client, server):
        client.sendall(b"ok")
        assert recv_exactly(server, 2) == b"ok"


def test_reset_clears_toxics_and_enables_everything(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    network.create_proxy("a", upstream.address)
    network.create_proxy("b", upstream.address)
    network.add_toxic("a", Timeout(0))
    network.set_enabled("b", False)
    network.reset()
    proxies = network.proxies()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


def test_delete_all_removes_every_proxy(network: ToxiproxyNetwork, upstream: Upstream) -> None:
    network.create_proxy("a", upstream.address)
    network.create_proxy("b with space", upstream.address)
    network.delete_all()
    assert network.proxies() == {}


def test_errors_carry_status_and_message(network: ToxiproxyNetwork) -> None:
    with pytest.raises(NetworkFaultError) as caught:
        network.add_toxic("missing", Latency(1))
    assert caught.value.status == 404 and caught.value.message == "proxy not found"
