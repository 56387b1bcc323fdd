"""Toxics and states that end connections: limit_data, reset_peer, timeout, down, dead upstream."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.proxy.sockets import (Stopwatch, Upstream, add_toxic, assert_silent, connect, connected,
                                 create_proxy, recv_exactly, recv_until_closed)


def test_limit_data_forwards_that_many_bytes_then_closes(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "limit_data", "downstream", bytes=10)
    with connected(listen, upstream) as (client, server):
        server.sendall(b"0123456")
        assert recv_exactly(client, 7) == b"0123456"
        server.sendall(b"789abcdef")  # crosses the limit: truncated
        assert recv_until_closed(client) == b"789"


def test_limit_data_of_zero_closes_on_the_first_chunk(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "limit_data", "upstream", bytes=0)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"hello")
        assert recv_until_closed(server) == b""
        assert recv_until_closed(client) == b""


def test_limit_data_counts_per_connection_across_updates(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "limit_data", "downstream", bytes=10)
    with connected(listen, upstream) as (client, server):
        server.sendall(b"12345")
        assert recv_exactly(client, 5) == b"12345"
        api.patch("/proxies/db/toxics/limit_data_downstream", json={"attributes": {"bytes": 8}})
        server.sendall(b"6789")
        assert recv_until_closed(client) == b"678"


def _expect_reset(client: socket.socket) -> None:
    with pytest.raises(ConnectionResetError):
        client.settimeout(5)
        while client.recv(1024):
            pass


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer_sends_a_tcp_rst(api: httpx.Client, upstream: Upstream, stream: str) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "reset_peer", stream)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"hello\n")
        if stream == "downstream":
            assert recv_exactly(server, 6) == b"hello\n"
            server.sendall(b"hello\n")
        _expect_reset(client)


def test_reset_peer_waits_its_timeout_after_the_first_data(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "reset_peer", "upstream", timeout=200)
    with connected(listen, upstream) as (client, _server):
        assert_silent(client, 0.1)  # an idle connection is never reset
        with Stopwatch() as reset:
            client.sendall(b"x")
            _expect_reset(client)
    assert 0.19 <= reset.elapsed < 0.8


def test_reset_peer_added_to_a_live_connection_closes_with_fin(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"established")
        assert recv_exactly(server, 11) == b"established"
        add_toxic(api, "db", "reset_peer", "upstream")
        client.sendall(b"x")
        # SO_LINGER 0 is only set at accept time, as upstream does: a plain close.
        assert recv_until_closed(client) == b""
        assert recv_until_closed(server) == b""


def test_timeout_drops_data_then_closes_after_silence(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "timeout", "upstream", timeout=300)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as closed:
            client.sendall(b"lost")
            assert recv_until_closed(server) == b""
            assert recv_until_closed(client) == b""
    assert 0.29 <= closed.elapsed < 1.5


def test_timeout_zero_never_closes_and_removal_closes(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "timeout", "upstream", timeout=0)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"dropped")
        assert_silent(server, 0.4)
        assert api.delete("/proxies/db/toxics/timeout_upstream").status_code == 204
        assert recv_until_closed(client) == b""
        assert recv_until_closed(server) == b""


def test_removing_a_latency_behind_a_timeout_does_not_hang(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "upstream", name="might_block", latency=10)
    add_toxic(api, "db", "timeout", "upstream", timeout=0)
    with connected(listen, upstream) as (client, _server):
        for _ in range(5):
            client.sendall(b"hello")
        with Stopwatch() as removal:
            assert api.delete("/proxies/db/toxics/might_block").status_code == 204
    assert removal.elapsed < 1.0


def test_disabled_proxy_refuses_connections_and_closes_open_ones(
        api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    with connected(listen, upstream) as (client, server):
        assert api.patch("/proxies/db", json={"enabled": False}).status_code == 200
        assert recv_until_closed(client) == b""
        assert recv_until_closed(server) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(listen).close()
    api.patch("/proxies/db", json={"enabled": True})
    with connected(listen, upstream) as (client, server):
        client.sendall(b"back")
        assert recv_exactly(server, 4) == b"back"


def test_dead_upstream_accepts_then_closes(api: httpx.Client, free_port: int) -> None:
    listen = create_proxy(api, "db", f"127.0.0.1:{free_port}")
    client = connect(listen)
    try:
        assert recv_until_closed(client) == b""
    except ConnectionResetError:
        pass  # the close may race the kernel's ACK; either way the connection opened then ended
    finally:
        client.close()


def test_deleting_a_proxy_closes_its_connections(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    with connected(listen, upstream) as (client, _server):
        assert api.delete("/proxies/db").status_code == 204
        assert recv_until_closed(client) == b""



def test_changing_the_upstream_drops_connections_and_keeps_listening(
        api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    api.post("/proxies/db/toxics", json={"type": "noop"})
    with Upstream() as other, connected(listen, upstream) as (client, server):
        client.sendall(b"first")
        assert recv_exactly(server, 5) == b"first"
        moved = api.patch("/proxies/db", json={"upstream": other.address})
        assert moved.status_code == 200 and moved.json()["listen"] == listen
        assert len(moved.json()["toxics"]) == 1  # the same proxy, restarted: its toxics stay
        assert recv_until_closed(client) == b""
        with connected(listen, other) as (new_client, new_server):
            new_client.sendall(b"moved")
            assert recv_exactly(new_server, 5) == b"moved"
