"""toxiproxy-python 0.1.1 drives the embedded server: create, list, toxics, destroy, reset, populate.

The client keeps its server address in class attributes; monkeypatch restores them after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from fault_injection.toxiproxy import ProxyServer
from tests.proxy.sockets import Stopwatch, Upstream, connect, connected, recv_exactly, recv_until_closed


@pytest.fixture
def toxiproxy(proxy_server: ProxyServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Toxiproxy]:
    monkeypatch.setattr(APIConsumer, "host", APIConsumer.host)
    monkeypatch.setattr(APIConsumer, "port", APIConsumer.port)
    client = Toxiproxy()
    address = urlsplit(proxy_server.url)
    client.update_api_consumer(address.hostname, address.port)
    yield client


def test_running_and_version(toxiproxy: Toxiproxy) -> None:
    assert toxiproxy.running()
    assert b'"version"' in toxiproxy.version()


def test_create_list_and_destroy(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=upstream.address, name="db")
    assert proxy.name == "db" and proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(toxiproxy.proxies()) == {"db"}
    assert toxiproxy.get_proxy("db").upstream == upstream.address
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=upstream.address, name="db")
    assert toxiproxy.destroy(proxy) is True
    assert toxiproxy.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()


def test_toxics_add_list_and_remove(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=upstream.address, name="db")
    proxy.add_toxic(type="latency", attributes={"latency": 200})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="slow_up", attributes={"rate": 1000})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "slow_up"}
    assert toxics["latency_downstream"].attributes == {"latency": 200, "jitter": 0}
    assert proxy.get_toxic("slow_up").stream == "upstream"
    with connected(proxy.listen, upstream) as (client, server):
        with Stopwatch() as delayed:
            server.sendall(b"pong")
            assert recv_exactly(client, 4) == b"pong"
        assert delayed.elapsed >= 0.19
        assert proxy.destroy_toxic("latency_downstream") is True
        with Stopwatch() as direct:
            server.sendall(b"pong")
            assert recv_exactly(client, 4) == b"pong"
        assert direct.elapsed < 0.15
    assert set(proxy.toxics()) == {"slow_up"}
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="bandwidth", stream="upstream", name="slow_up")


def test_down_disables_then_enables(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=upstream.address, name="db")
    with proxy.down():
        assert toxiproxy.get_proxy("db").enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen).close()
    assert toxiproxy.get_proxy("db").enabled is True
    with connected(proxy.listen, upstream) as (client, server):
        client.sendall(b"up")
        assert recv_exactly(server, 2) == b"up"


def test_reset_removes_toxics_and_enables(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=upstream.address, name="db")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert toxiproxy.reset() is True
    assert toxiproxy.get_proxy("db").enabled is True
    assert proxy.toxics() == {}


def test_populate_and_destroy_all(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    created = toxiproxy.populate([
        {"name": "one", "upstream": upstream.address, "listen": "127.0.0.1:0"},
        {"name": "two", "upstream": upstream.address, "listen": "127.0.0.1:0"},
    ])
    assert [p.name for p in created] == ["one", "two"]
    with connected(created[1].listen, upstream) as (client, server):
        server.sendall(b"two")
        assert recv_exactly(client, 3) == b"two"
    toxiproxy.destroy_all()
    assert toxiproxy.proxies() == {}


def test_limit_data_through_the_python_client(toxiproxy: Toxiproxy, upstream: Upstream) -> None:
    proxy = toxiproxy.create(upstream=upstream.address, name="db")
    proxy.add_toxic(type="limit_data", attributes={"bytes": 4})
    with connected(proxy.listen, upstream) as (client, server):
        server.sendall(b"abcdefgh")
        assert recv_until_closed(client) == b"abcd"
